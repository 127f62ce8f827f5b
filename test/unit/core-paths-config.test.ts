import { afterEach, describe, expect, test } from 'vitest';
import { chmodSync, lstatSync, mkdtempSync, mkdirSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configDir } from '../../src/core/paths.js';
import { openConfig } from '../../src/core/config.js';
import { UserError } from '../../src/core/errors.js';

describe('config directory', () => {
  const linux = { platform: 'linux' as const, homedir: '/home/ada' };
  test('THIRDLOOP_CONFIG_DIR wins', () => {
    expect(configDir({ ...linux, env: { THIRDLOOP_CONFIG_DIR: '/etc/tl', XDG_CONFIG_HOME: '/x' } })).toBe('/etc/tl');
  });
  test('XDG_CONFIG_HOME on Linux and macOS, ~/.config otherwise', () => {
    expect(configDir({ ...linux, env: { XDG_CONFIG_HOME: '/xdg' } })).toBe('/xdg/thirdloop');
    expect(configDir({ ...linux, env: {} })).toBe('/home/ada/.config/thirdloop');
    expect(configDir({ platform: 'darwin', homedir: '/Users/ada', env: {} })).toBe('/Users/ada/.config/thirdloop');
  });
  test('a relative or blank XDG_CONFIG_HOME is ignored, as the XDG spec says', () => {
    expect(configDir({ ...linux, env: { XDG_CONFIG_HOME: 'relative/dir' } })).toBe('/home/ada/.config/thirdloop');
    expect(configDir({ ...linux, env: { XDG_CONFIG_HOME: '  ' } })).toBe('/home/ada/.config/thirdloop');
  });
  test('Windows: %APPDATA%\\thirdloop, or the roaming folder under the home', () => {
    expect(configDir({ platform: 'win32', homedir: 'C:\\Users\\ada', env: { APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' } })).toBe(
      'C:\\Users\\ada\\AppData\\Roaming\\thirdloop',
    );
    expect(configDir({ platform: 'win32', homedir: 'C:\\Users\\ada', env: {} })).toBe('C:\\Users\\ada\\AppData\\Roaming\\thirdloop');
  });
});

describe('config store', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('profiles round-trip; file 0600 and directory 0700 (tightened when looser)', () => {
    const base = mkdtempSync(path.join(tmpdir(), 'tl-config-'));
    dir = path.join(base, 'thirdloop');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const config = openConfig(dir);
    config.setProfile('default', { apiUrl: 'https://a', keyId: 'tlk_x', keyName: undefined, storage: 'keychain' });
    config.setProfile('work.eu', { apiUrl: 'https://b' });
    expect(config.getProfile('default')).toEqual({ apiUrl: 'https://a', keyId: 'tlk_x', storage: 'keychain' });
    expect(config.profileNames().sort()).toEqual(['default', 'work.eu']);
    expect(statSync(config.path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    // Dotted names are not paths into the object.
    expect(JSON.parse(readFileSync(config.path, 'utf8')).profiles['work.eu']).toEqual({ apiUrl: 'https://b' });
    config.deleteProfile('work.eu');
    expect(openConfig(dir).getProfile('work.eu')).toBeUndefined();
    config.set('setup.shells', { shells: ['bash'] });
    expect(openConfig(dir).get('setup.shells')).toEqual({ shells: ['bash'] });
    rmSync(base, { recursive: true, force: true });
  });

  test('a corrupt config file is a clear error naming the file, and is left as it was', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tl-config-'));
    const file = path.join(dir, 'config.json');
    writeFileSync(file, '{"profiles": {', { mode: 0o600 });
    let error: unknown;
    try {
      openConfig(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe(`Cannot read the config file ${file}: it is not valid JSON.`);
    expect(readFileSync(file, 'utf8')).toBe('{"profiles": {');
  });

  test('a file in the format earlier versions wrote (tab-indented, other records beside the profiles) reads, and keeps that format and those records', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tl-config-'));
    const file = path.join(dir, 'config.json');
    const before = { profiles: { default: { apiUrl: 'https://a', keyId: 'tlk_a', storage: 'file' } }, 'setup.shells': { shells: ['zsh'] } };
    writeFileSync(file, JSON.stringify(before, undefined, '\t'), { mode: 0o600 });
    const config = openConfig(dir);
    expect(config.getProfile('default')).toEqual(before.profiles.default);
    config.setProfile('work', { apiUrl: 'https://b' });
    const text = readFileSync(file, 'utf8');
    expect(text).toBe(JSON.stringify({ ...before, profiles: { ...before.profiles, work: { apiUrl: 'https://b' } } }, undefined, '\t'));
    // Written through a temp file and a rename: nothing else is left in the folder.
    expect(readdirSync(dir)).toEqual(['config.json']);
  });

  test('reading creates no file, and sees what another process wrote since', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tl-config-'));
    const config = openConfig(dir);
    expect(config.getProfile('default')).toBeUndefined();
    expect(config.profileNames()).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
    openConfig(dir).setProfile('default', { apiUrl: 'https://a' });
    expect(config.getProfile('default')).toEqual({ apiUrl: 'https://a' });
  });

  test('a symlinked config file stays a link: its target is replaced, 0600', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tl-config-'));
    const real = path.join(dir, 'dotfiles-config.json');
    writeFileSync(real, '{}', { mode: 0o644 });
    mkdirSync(path.join(dir, 'thirdloop'), { mode: 0o700 });
    const link = path.join(dir, 'thirdloop', 'config.json');
    symlinkSync(real, link);
    openConfig(path.join(dir, 'thirdloop')).setProfile('default', { apiUrl: 'https://a' });
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(real);
    expect(JSON.parse(readFileSync(real, 'utf8'))).toEqual({ profiles: { default: { apiUrl: 'https://a' } } });
    expect(statSync(real).mode & 0o777).toBe(0o600);
  });

  test.each([
    ['an array', '[1, 2]'],
    ['a bare string', '"x"'],
    ['an empty file', ''],
  ])('a config file holding %s is a clear error, and is left as it was', (_, text) => {
    dir = mkdtempSync(path.join(tmpdir(), 'tl-config-'));
    const file = path.join(dir, 'config.json');
    writeFileSync(file, text, { mode: 0o600 });
    let error: unknown;
    try {
      openConfig(dir).setProfile('default', { apiUrl: 'https://a' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toMatch(new RegExp(`^Cannot read the config file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: it (is not valid JSON|does not hold a JSON object)\\.$`));
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  test('profile names are checked (they become keychain accounts)', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tl-config-'));
    const config = openConfig(dir);
    expect(() => config.setProfile('../evil', {})).toThrow(/Invalid profile name/);
    expect(() => config.setProfile('', {})).toThrow(/Invalid profile name/);
  });
});
