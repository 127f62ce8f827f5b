/**
 * What the operator must see even when the request log is off: a provider the gateway cannot
 * reach (an untrusted certificate, a refusing proxy), an internal error. One JSON line on stderr
 * in pino's shape, so both logs read alike. Fastify's own logger stays off unless
 * THIRDLOOP_SERVER_LOG=1: turned on, it costs every request its response listeners and a child
 * logger, which the gateway's hot path does not pay for errors that are rare.
 */
export type OperatorLog = (fields: Record<string, unknown>, message: string) => void;

export const silentLog: OperatorLog = () => {};

/** Errors as pino's serializer shows them: type, message and stack, not their other properties. */
function serialize(value: unknown): unknown {
  return value instanceof Error ? { type: value.name, message: value.message, stack: value.stack } : value;
}

export function stderrLog(stream: NodeJS.WritableStream = process.stderr): OperatorLog {
  return (fields, message) => {
    const entries = Object.entries(fields).map(([key, value]) => [key, serialize(value)]);
    stream.write(`${JSON.stringify({ level: 50, time: Date.now(), pid: process.pid, ...Object.fromEntries(entries), msg: message })}\n`);
  };
}
