/**
 * Debian's tinyproxy as the corporate forward proxy: started by the test in
 * the foreground (`-d -c CONF`) with its own config, log and pid file in a
 * temp directory, on a free loopback port. Its log is the evidence: every
 * CONNECT tunnel it opened is read back from it.
 *
 *   const proxy = await startTinyproxy();                                  // needs('tinyproxy')
 *   const locked = await startTinyproxy({ basicAuth: { user: 'u', password: 'p' } });
 *   proxy.url                   // http://127.0.0.1:<port>
 *   proxy.tunnels()             // ['127.0.0.1:8443', …], one per CONNECT it established
 *   await proxy.stop();
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { which } from './components.js';
import { startDaemon } from './daemon.js';

export interface Tinyproxy {
  /** `http://127.0.0.1:<port>`, without credentials. */
  url: string;
  port: number;
  log(): string;
  /** `host:port` of every CONNECT request it received, in order. */
  connectRequests(): string[];
  /** `host:port` of every CONNECT it established (the request came with valid credentials and the target answered). */
  tunnels(): string[];
  stop(): Promise<void>;
}

export interface TinyproxyOptions {
  /** The proxy asks for these (407 without them, 401 with wrong ones). */
  basicAuth?: { user: string; password: string };
  /** Only these CONNECT ports are allowed (tinyproxy answers 403 for others); default: any. */
  connectPorts?: number[];
}

const TINYPROXY = () => which('tinyproxy') ?? '/usr/bin/tinyproxy';

export async function startTinyproxy(options: TinyproxyOptions = {}): Promise<Tinyproxy> {
  let logFile = '';
  const read = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const daemon = await startDaemon({
    name: 'tinyproxy',
    command: TINYPROXY(),
    configure(dir, port) {
      logFile = join(dir, 'tinyproxy.log');
      const lines = [
        `Port ${port}`,
        'Listen 127.0.0.1',
        'Timeout 120',
        `LogFile "${logFile}"`,
        // Connect level records each CONNECT request; Info adds the "Established connection" lines.
        'LogLevel Info',
        `PidFile "${join(dir, 'tinyproxy.pid')}"`,
        'MaxClients 50',
        'Allow 127.0.0.1',
        'DisableViaHeader Yes',
        ...(options.basicAuth ? [`BasicAuth ${options.basicAuth.user} ${options.basicAuth.password}`] : []),
        ...(options.connectPorts ?? []).map((p) => `ConnectPort ${p}`),
      ];
      writeFileSync(join(dir, 'tinyproxy.conf'), lines.join('\n') + '\n');
      return ['-d', '-c', join(dir, 'tinyproxy.conf')];
    },
    logs: read,
    portTaken: /Address already in use|Could not create listening socket/i,
  });
  const port = daemon.port;
  const stop = daemon.stop;

  /** The request lines and outcomes per file descriptor, in log order. */
  const connects = () => {
    const requested: string[] = [];
    const established: string[] = [];
    const pending = new Map<string, string>();
    for (const line of read().split('\n')) {
      const request = /Request \(file descriptor (\d+)\): CONNECT (\S+) HTTP/.exec(line);
      if (request) {
        requested.push(request[2]!);
        pending.set(request[1]!, request[2]!);
        continue;
      }
      // "Established connection to host "127.0.0.1" using file descriptor 6." names the outgoing
      // descriptor; the incoming one's request is the latest pending CONNECT to that host.
      const done = /Established connection to host "([^"]+)"/.exec(line);
      if (done) {
        const entry = [...pending.entries()].reverse().find(([, target]) => target.replace(/:\d+$/, '') === done[1]);
        if (entry) {
          established.push(entry[1]);
          pending.delete(entry[0]);
        }
      }
    }
    return { requested, established };
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log: read,
    connectRequests: () => connects().requested,
    tunnels: () => connects().established,
    stop,
  };
}
