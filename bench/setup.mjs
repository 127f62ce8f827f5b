// `setup claude` on a typical home (Debian's skeleton, an oh-my-zsh-style .zshrc, a fish config), each
// run on a fresh copy: the whole command, side by side with its --dry-run (the same reading and
// planning, no writing and no shells started), and the share of it spent starting the shells to
// check them (the --json report's verifyMs).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_BIN, isolatedEnv, median, mustSucceed, sideBySide, timeRun } from './lib.mjs';

/** A credential the CLI accepts offline (prefix, alphabet, CRC-32 checksum); never sent anywhere here. */
function fakeCredential() {
  const b62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const table = new Uint32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (s) => {
    let c = 0xffffffff;
    for (let i = 0; i < s.length; i++) c = table[(c ^ s.charCodeAt(i)) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const random = Array.from({ length: 32 }, (_, i) => b62[(i * 7 + 3) % 62]).join('');
  let n = crc(random);
  let sum = '';
  while (n > 0) {
    sum = b62[n % 62] + sum;
    n = Math.floor(n / 62);
  }
  return `tlk_${'BENCH'.padEnd(24, 'x')};tls_${random}${sum.padStart(6, '0')}`;
}

function typicalHome(root) {
  for (const name of ['.bashrc', '.profile', '.bash_logout']) {
    try {
      cpSync(join('/etc/skel', name), join(root, name));
    } catch {
      writeFileSync(join(root, name), '# skeleton\n');
    }
  }
  mkdirSync(join(root, '.oh-my-zsh', 'lib'), { recursive: true });
  writeFileSync(join(root, '.oh-my-zsh', 'oh-my-zsh.sh'), 'for lib in $ZSH/lib/*.zsh(N); do source $lib; done\nautoload -Uz compinit && compinit -u\n');
  writeFileSync(join(root, '.oh-my-zsh', 'lib', 'history.zsh'), 'HISTSIZE=50000\nSAVEHIST=10000\n');
  writeFileSync(join(root, '.zshrc'), 'export ZSH="$HOME/.oh-my-zsh"\nplugins=(git)\nsource $ZSH/oh-my-zsh.sh\nalias ll="ls -l"\n');
  mkdirSync(join(root, '.config', 'fish'), { recursive: true });
  writeFileSync(join(root, '.config', 'fish', 'config.fish'), 'if status is-interactive\n    set -g fish_greeting\nend\n');
}

export function measureSetup({ runs }) {
  const base = mkdtempSync(join(tmpdir(), 'thirdloop-bench-setup-'));
  const template = join(base, 'template');
  mkdirSync(template);
  typicalHome(template);
  let n = 0;
  const fresh = () => {
    const home = join(base, `h${n++}`);
    cpSync(template, home, { recursive: true });
    return home;
  };
  const env = (home) => isolatedEnv(home, { THIRDLOOP_API_KEY: fakeCredential(), THIRDLOOP_API_URL: 'https://thirdloop.example.com', SHELL: '/bin/bash', NO_COLOR: '1' });
  const args = ['setup', 'claude', '--shell', 'bash,zsh,fish', '--yes'];
  const verify = [];
  try {
    const run = (extra) => () => {
      const home = fresh();
      const r = timeRun(process.execPath, [CLI_BIN, ...args, ...extra], { env: env(home), cwd: home, timeout: 60_000 });
      if (extra.includes('--json') && r.status === 0) verify.push(JSON.parse(r.stdout).verifyMs);
      rmSync(home, { recursive: true, force: true });
      return r;
    };
    const r = sideBySide(run(['--dry-run']), run(['--json']), { runs, warmup: 2, check: mustSucceed('setup claude') });
    return { dryRun: r.a, setup: r.b, ratio: r.ratio, verifyMs: median(verify.slice(-runs)) };
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}
