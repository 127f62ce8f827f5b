/**
 * The judge: start each installed shell the way new terminals do (bash -i,
 * bash -l, bash -il, …) and read back what a program started from it would
 * see. Exact values are compared; nothing secret is ever put into words:
 * a key is named by its ID, anything else is "not the Third Loop key".
 * When a shell disagrees, the start-up scan names the file and line.
 */
import { randomBytes } from 'node:crypto';
import { isWellFormedKeyId as isKeyId } from 'thirdloop-protocol';
import { redactSecrets } from '../core/credential.js';
import { parseProbe, parseStandIn, type ProbeOutput } from './probe-command.js';
import { DEFAULT_SHELL_TIMEOUT_MS } from './terminal.js';
import type { Finding } from './startup-scan.js';
import type { ProfileShell, RunResult, ShellName, ShellProbe, StartMode } from './types.js';
import { API_KEY_VAR, BASE_URL_VAR } from './types.js';

export interface Expected {
  /** ANTHROPIC_BASE_URL exactly as the env file sets it. */
  baseUrl: string;
  /** ANTHROPIC_API_KEY exactly as the env file sets it. */
  credential: string;
}

export type ModeStatus =
  /** Both variables, exact. */
  | 'ok'
  /** The shell hands over to another program (`exec tmux`) after a block ran: set, but not seen by the check. */
  | 'handed-over'
  | 'failed';

export interface ModeCheck {
  mode: StartMode;
  /** How it was started, for people: "bash -il". */
  command: string;
  status: ModeStatus;
  /** What a program started from it sees, in words that never hold a secret. */
  saw: string;
  /** Why, when not ok: the file and line, or what the shell said. */
  reason?: string;
  /** ANTHROPIC_AUTH_TOKEN is set there too. */
  authToken: boolean;
  ms: number;
}

export interface ShellCheck {
  shell: ShellName;
  installed: boolean;
  /** Installed, and no mode failed. */
  ok: boolean;
  modes: ModeCheck[];
}

const FLAGS: Record<StartMode, string> = { interactive: '-i', login: '-l', 'interactive login': '-il' };
export const modeCommand = (shell: ProfileShell, mode: StartMode) =>
  shell.name === 'powershell' ? shell.program : `${shell.program} ${FLAGS[mode]}`;

/** Hides the key (ours and anything that looks like one) in what a shell printed. */
export function redactShellText(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets.filter((s) => s.length >= 8)) out = out.split(secret).join('<redacted>');
  return redactSecrets(out).replace(/sk-ant-[A-Za-z0-9_-]+/g, 'sk-ant-<redacted>');
}

/** A URL for a message: user and password taken out. */
function safeUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.username || url.password) {
      url.username = '';
      url.password = '';
    }
    return url.toString().replace(/\/$/, value.endsWith('/') ? '/' : '');
  } catch {
    return value.length > 80 ? `${value.slice(0, 77)}…` : value;
  }
}

function describeKey(value: string, expected: string): string {
  const id = value.split(';')[0]!.trim();
  const ours = expected.split(';')[0]!;
  if (isKeyId(id)) return id === ours ? `${API_KEY_VAR} with key ${id} but not its stored secret` : `${API_KEY_VAR} of another key (${id})`;
  return `an ${API_KEY_VAR} that is not the Third Loop key`;
}

/** What the probe output shows, in words; undefined when both values are exact. */
export function describeSeen(seen: ProbeOutput, expected: Expected): string | undefined {
  const parts: string[] = [];
  if (seen.baseUrl === undefined) parts.push(`no ${BASE_URL_VAR}`);
  else if (seen.baseUrl !== expected.baseUrl) parts.push(`${BASE_URL_VAR}=${seen.baseUrl === '' ? '(empty)' : safeUrl(seen.baseUrl)}`);
  if (seen.apiKey === undefined) parts.push(`no ${API_KEY_VAR}`);
  else if (seen.apiKey !== expected.credential) parts.push(seen.apiKey === '' ? `an empty ${API_KEY_VAR}` : describeKey(seen.apiKey, expected.credential));
  return parts.length ? parts.join(' and ') : undefined;
}

const NOISE = /cannot set terminal process group|no job control in this shell|Could not set up terminal|TERM environment variable|fallback terminal type|Inappropriate ioctl/i;
const TROUBLE = /syntax error|parse error|unexpected|no such file|permission denied|not found|bad substitution|unmatched|unexpected end/i;

/** The first line of what the shell printed on stderr that looks like a problem, redacted and cut. */
export function stderrProblem(stderr: string, secrets: string[]): string | undefined {
  const line = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l && !NOISE.test(l) && TROUBLE.test(l));
  if (!line) return undefined;
  const safe = redactShellText(line, secrets);
  return safe.length > 160 ? `${safe.slice(0, 157)}…` : safe;
}

export interface CheckInput {
  shell: ProfileShell;
  probe: ShellProbe & { find?(program: string): string | undefined };
  expected: Expected;
  /** The start-up scan of the files as they are now. */
  findings: Finding[];
  /** Paths for people (~/.bashrc). */
  label: (file: string) => string;
  /** The time limit of one shell start, as the probe has it. */
  timeoutMs?: number;
  /** Per start mode that reads no file with our block: the files it reads (from startup-scan's modesWithoutBlock). */
  withoutBlock?: Partial<Record<StartMode, string[]>>;
  /** Start-up files that are FIFOs: a shell reading one waits for a writer forever, so those modes are not started. */
  fifos?: Array<{ file: string; modes: StartMode[] }>;
  /**
   * --via-run: judge `claude` instead of the variables. The folder holds a stand-in `claude` that
   * the probe puts first on PATH; the shell's function must start it through `thirdloop run`.
   */
  viaRun?: { standInDir: string };
}

/** Runs every start mode of one shell at once; `installed: false` when the program is not there. */
export async function checkShell(input: CheckInput): Promise<ShellCheck> {
  const { shell } = input;
  const modes = Object.keys(shell.startArgs) as StartMode[];
  const start = async (mode: StartMode, timeoutMs?: number) => {
    const mark = `TL${randomBytes(6).toString('hex')}:`;
    const args = shell.startArgs[mode]!(input.viaRun ? shell.runProbeCommand(mark, input.viaRun.standInDir) : shell.probeCommand(mark));
    return { mode, mark, result: await input.probe.run(shell.program, args, timeoutMs ? { timeoutMs } : {}) };
  };
  const stalled = (mode: StartMode) => input.fifos?.find((f) => f.modes.includes(mode));
  // The first mode alone, then the others at once: a first start in a home builds caches (zsh's
  // compinit dump, fish's universal variables) that the next ones reuse instead of each building them.
  const [first, ...rest] = modes.filter((mode) => !stalled(mode));
  const runs = first ? [await start(first), ...(await Promise.all(rest.map((mode) => start(mode))))] : [];
  // A first start can be slow once (zsh's compinit building its dump, several shells at once on a
  // busy machine): a mode that ran out of time gets one more try, alone and with twice the time.
  for (const [i, run] of runs.entries()) {
    if (run.result?.timedOut) runs[i] = await start(run.mode, (input.timeoutMs ?? DEFAULT_SHELL_TIMEOUT_MS) * 2);
  }
  const installed = input.probe.find ? input.probe.find(shell.program) !== undefined : runs.every((r) => r.result !== undefined);
  if (!installed || runs.some((r) => r.result === undefined)) return { shell: shell.name, installed: false, ok: false, modes: [] };
  const checks = modes.map((mode): ModeCheck => {
    const fifo = stalled(mode);
    if (fifo) {
      return {
        mode,
        command: modeCommand(shell, mode),
        status: 'failed',
        saw: 'nothing: not started',
        reason: `${input.label(fifo.file)} is a FIFO (named pipe), which ${shell.label} would wait on forever`,
        authToken: false,
        ms: 0,
      };
    }
    const { mark, result } = runs.find((r) => r.mode === mode)!;
    return input.viaRun ? judgeRun(input, mode, mark, result!) : judge(input, mode, mark, result!);
  });
  return { shell: shell.name, installed: true, ok: checks.every((c) => c.status !== 'failed'), modes: checks };
}

/** Why a shell never got to the check: out of time, a line that ends it, or what it said. */
function whyNeverRan(result: RunResult, findings: Finding[], where: (f: Finding) => string, said: string | undefined): string {
  const stop = findings.find((f) => f.kind === 'stops' && f.does !== 'return');
  if (result.timedOut) return `it did not finish within ${Math.round(result.ms / 1000)} s${stop ? ` (${where(stop)}: \`${stop.code}\`)` : ' (does a start-up file wait for input?)'}`;
  if (stop) return `${where(stop)} runs \`${stop.code}\`, so the rest never ran`;
  return said ? `it said: ${said}` : `it exited with code ${result.code} before running the check`;
}

function judge(input: CheckInput, mode: StartMode, mark: string, result: RunResult): ModeCheck {
  const { shell, expected, label } = input;
  const secrets = [expected.credential, expected.credential.split(';')[1] ?? ''];
  const findings = input.findings.filter((f) => f.modes.includes(mode));
  const command = modeCommand(shell, mode);
  const where = (f: Finding) => `${label(f.file)} line ${f.line}`;
  const base = { mode, command, ms: result.ms };
  const seen = parseProbe(result.stdout, mark);

  if (!seen) {
    const handover = findings.find((f) => f.kind === 'stops' && f.does?.startsWith('exec ') && f.afterBlock);
    if (handover && !result.timedOut) {
      return {
        ...base,
        status: 'handed-over',
        authToken: false,
        saw: `nothing it could check: it hands over to \`${handover.does!.slice(5)}\` at ${where(handover)}`,
        reason: `the thirdloop block runs before that line, so what it starts inherits both variables`,
      };
    }
    return { ...base, status: 'failed', authToken: false, saw: 'nothing: the check never ran', reason: whyNeverRan(result, findings, where, stderrProblem(result.stderr, secrets)) };
  }

  const wrong = describeSeen(seen, expected);
  if (!wrong) return { ...base, status: 'ok', authToken: seen.authToken, saw: 'both variables' };
  const failing = [seen.apiKey !== expected.credential ? API_KEY_VAR : undefined, seen.baseUrl !== expected.baseUrl ? BASE_URL_VAR : undefined];
  const override = findings.filter((f) => f.kind === 'override' && failing.includes(f.variable)).at(-1);
  const stop = findings.find((f) => f.kind === 'stops');
  const problem = stderrProblem(result.stderr, secrets);
  const bare = input.withoutBlock?.[mode];
  let reason: string;
  if (override) reason = `${where(override)} ${override.unsets ? 'unsets' : 'sets'} ${override.variable} after the thirdloop block`;
  else if (bare) reason = `${bare.map(label).join(' and ')}, which ${command} reads, ${bare.length === 1 ? 'has' : 'have'} no thirdloop block`;
  else if (stop) reason = `${where(stop)} (\`${stop.code}\`) stops the reading before the thirdloop block`;
  else if (problem) reason = `it said: ${problem}`;
  else reason = 'none of the start-up files thirdloop knows sets it after the block: look for a file they source';
  return { ...base, status: 'failed', authToken: seen.authToken, saw: wrong, reason };
}

/** A URL `thirdloop run`'s broker hands out: plain HTTP on the loopback address, a port. */
const BROKER_URL = /^http:\/\/127\.0\.0\.1:\d+$/;

/**
 * --via-run: the shell must not hand the key to what it starts, and `claude` typed there must reach
 * the stand-in through `thirdloop run`: a loopback broker URL, a run token that is not the key, no
 * THIRDLOOP_API_KEY, and both arguments as typed.
 */
function judgeRun(input: CheckInput, mode: StartMode, mark: string, result: RunResult): ModeCheck {
  const { shell, expected, label } = input;
  const secret = expected.credential.split(';')[1] ?? expected.credential;
  const secrets = [expected.credential, secret];
  const findings = input.findings.filter((f) => f.modes.includes(mode));
  const command = modeCommand(shell, mode);
  const where = (f: Finding) => `${label(f.file)} line ${f.line}`;
  const base = { mode, command, ms: result.ms, authToken: false };
  const env = parseProbe(result.stdout, mark);
  const seen = parseStandIn(result.stdout, `${mark}S`);
  const problem = () => stderrProblem(result.stderr, secrets) ?? runSaid(result.stderr, secrets);

  if (!env) {
    return { ...base, status: 'failed', saw: 'nothing: the check never ran', reason: whyNeverRan(result, findings, where, problem()) };
  }
  if (env.apiKey !== undefined && (env.apiKey === expected.credential || env.apiKey.includes(secret))) {
    const setter = findings.filter((f) => (f.kind === 'override' || f.kind === 'earlier') && f.variable === API_KEY_VAR).at(-1);
    return {
      ...base,
      status: 'failed',
      authToken: env.authToken,
      saw: `the key in ${API_KEY_VAR}`,
      reason: setter ? `${where(setter)} sets it` : 'a start-up file still exports it (an exports-mode thirdloop block, or a line of its own)',
    };
  }
  if (!seen) {
    const said = problem();
    const redefined = findings.filter((f) => f.kind === 'command' && f.variable === 'claude').at(-1);
    const reason = redefined
      ? `${where(redefined)} defines \`claude\` again after the thirdloop block`
      : said
        ? `\`claude\` said: ${said}`
        : `\`claude\` exited with code ${result.code} before reaching Claude Code`;
    return { ...base, status: 'failed', authToken: env.authToken, saw: '`claude` not starting through `thirdloop run`', reason };
  }
  const direct = !BROKER_URL.test(seen.baseUrl) || seen.apiKey === '' || seen.apiKey === expected.credential || seen.apiKey.includes(secret);
  if (direct || seen.thirdloopKey) {
    const redefined = findings.filter((f) => f.kind === 'command' && f.variable === 'claude').at(-1);
    const reason = seen.thirdloopKey
      ? 'THIRDLOOP_API_KEY reached Claude Code'
      : redefined
        ? `${where(redefined)} defines \`claude\` again after the thirdloop block`
        : '`claude` there is not the thirdloop function (is an alias or function of that name defined in a file the shell reads?)';
    return { ...base, status: 'failed', authToken: env.authToken, saw: '`claude` starting without `thirdloop run`', reason };
  }
  if (seen.argc !== 1 || seen.first !== 'a b') {
    return { ...base, status: 'failed', authToken: env.authToken, saw: '`claude` through `thirdloop run`, with its arguments changed', reason: `it got ${seen.argc} argument(s) for 1 ("a b")` };
  }
  return { ...base, status: 'ok', authToken: env.authToken, saw: '`claude` through `thirdloop run`' };
}

/** The first line `thirdloop run` itself printed (its errors start "Error:" or "thirdloop run:"), redacted and cut. */
function runSaid(stderr: string, secrets: string[]): string | undefined {
  const line = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => /^(Error:|thirdloop run:)/.test(l));
  if (!line) return undefined;
  const safe = redactShellText(line.replace(/^Error:\s*/, ''), secrets);
  return safe.length > 200 ? `${safe.slice(0, 197)}…` : safe;
}
