/** A loopback port that was free a moment ago, for programs that cannot take `--port 0` (nginx, tinyproxy). */
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port, or rejects after `timeoutMs` or when `failed()` says so. */
export async function waitForPort(port: number, options: { timeoutMs?: number; failed?: () => string | undefined } = {}): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const failure = options.failed?.();
    if (failure) throw new Error(failure);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listened on 127.0.0.1:${port} within ${options.timeoutMs ?? 10_000} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
