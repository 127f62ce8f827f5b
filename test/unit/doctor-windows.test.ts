/**
 * doctor on Windows (win32 injected, the fake registry and PowerShells of
 * fake-windows.ts, real files): each PowerShell's profile where Documents
 * really is, each execution policy, and the user environment.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkShells } from '../../src/doctor/shells.js';
import { runShellSetup } from '../../src/shells/configure.js';
import { spawnedWindows } from '../../src/shells/windows/system.js';
import { REMOTE_SIGNED_USER, RESTRICTED_DEFAULT, fakeWindows } from '../helpers/fake-windows.js';
import { makeCredential, tempHome, testContext, type TempHome } from '../helpers/setup-env.js';

const API_URL = 'https://thirdloop.example.com';
const CREDENTIAL = makeCredential('doctorwin');

let home: TempHome;
beforeEach(() => {
  home = tempHome('thirdloop-win-');
  // PowerShell 7 installed where its MSI puts it.
  mkdirSync(h('Program Files', 'PowerShell', '7'), { recursive: true });
  writeFileSync(h('Program Files', 'PowerShell', '7', 'pwsh.exe'), '');
});
afterEach(() => home.cleanup());

const h = (...parts: string[]) => path.join(home.home, ...parts);
const env = () => ({
  USERPROFILE: home.home,
  APPDATA: h('AppData', 'Roaming'),
  THIRDLOOP_CONFIG_DIR: h('AppData', 'Roaming', 'thirdloop'),
  ProgramFiles: h('Program Files'),
});

async function doctor(win: ReturnType<typeof fakeWindows>) {
  const { ctx } = testContext(home.home, { platform: 'win32', env: env() });
  const config = await ctx.config();
  const results = await checkShells({
    e: { platform: 'win32', homedir: home.home, env: env() },
    config,
    credential: CREDENTIAL,
    apiUrl: API_URL,
    windows: spawnedWindows(win.spawn, env()),
  });
  return Object.fromEntries(results.map((r) => [r.check, r]));
}

describe('doctor on Windows', () => {
  it('reports both PowerShell profiles (in OneDrive), each execution policy and the user environment', async () => {
    const win = fakeWindows({
      personal: { kind: 'ExpandString', data: '%USERPROFILE%\\OneDrive - Contoso\\Documents' },
      policies: { Desktop: RESTRICTED_DEFAULT, Core: REMOTE_SIGNED_USER },
    });
    const { ctx } = testContext(home.home, { platform: 'win32', env: env() });
    await runShellSetup(ctx, { shells: ['powershell', 'cmd'], apiUrl: API_URL, credential: CREDENTIAL, spawn: win.spawn });

    let r = await doctor(win);
    expect(r['powershell:profile:5.1']).toMatchObject({ status: 'ok', message: expect.stringContaining('OneDrive - Contoso') });
    expect(r['powershell:profile:7']).toMatchObject({ status: 'ok' });
    // Restricted keeps 5.1 from running its profile; the user environment still carries the variables there.
    expect(r['powershell:policy:5.1']).toMatchObject({ status: 'warn', fix: expect.stringContaining('Set-ExecutionPolicy -Scope CurrentUser -ExecutionPolicy RemoteSigned') });
    expect(r['powershell:policy:7']).toMatchObject({ status: 'ok', message: expect.stringContaining('RemoteSigned') });
    expect(r['user-environment']).toMatchObject({ status: 'ok' });
    expect(JSON.stringify(r)).not.toContain(CREDENTIAL.split(';')[1]);

    // The 5.1 profile loses its block (a sync conflict, a hand edit): that PowerShell is named.
    writeFileSync(h('OneDrive - Contoso', 'Documents', 'WindowsPowerShell', 'Microsoft.PowerShell_profile.ps1'), '# mine\n');
    // And someone else's key lands in the user environment.
    win.registry.get('environment')!.set('ANTHROPIC_API_KEY', { kind: 'String', data: 'sk-ant-other' });
    r = await doctor(win);
    expect(r['powershell:profile:5.1']).toMatchObject({ status: 'fail', message: expect.stringContaining('has no thirdloop block'), fix: 'thirdloop setup claude --shell powershell' });
    expect(r['user-environment']).toMatchObject({ status: 'fail', message: expect.stringContaining('not the stored key') });
    expect(JSON.stringify(r)).not.toContain('sk-ant-other');
  });

  it('warns about a foreign ANTHROPIC_API_KEY in the user environment even when thirdloop did not set it', async () => {
    const win = fakeWindows({ environment: { ANTHROPIC_API_KEY: { kind: 'String', data: 'sk-ant-personal' } } });
    const r = await doctor(win);
    expect(r['user-environment']).toMatchObject({ status: 'warn', message: expect.stringContaining('not the stored Third Loop key') });
    expect(r['powershell:profile:5.1']).toBeUndefined();
  });
});
