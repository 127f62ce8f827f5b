/**
 * Every error a client can cause is answered in the documented shape of its route family, the ones
 * the HTTP layer raises before any route runs included: 431 (headers too large), 400 (not valid
 * HTTP, such as a broken chunked body) and 408 (a request that did not arrive in time). A family
 * owns the paths it says it owns; the first one that owns the request's path answers.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ErrorFamily {
  /** Whether this family answers for `url` (the request target as sent). */
  owns(url: string): boolean;
  render(status: number, message: string): { contentType: string; body: string };
}

/** What the framework answered before families existed; the shape for paths no family owns. */
export const FRAMEWORK_FAMILY: ErrorFamily = {
  owns: () => true,
  render: (status, message) => ({
    contentType: 'application/json',
    body: JSON.stringify({ error: STATUS_CODES[status], message, statusCode: status }),
  }),
};

const MESSAGES: Record<number, string> = {
  400: 'The request is not valid HTTP.',
  408: 'The request did not arrive in time.',
  431: 'The request headers are larger than this instance accepts.',
};

/** The target of the request line at the start of `packet`, if there is one. */
function targetOf(packet: unknown): string | undefined {
  if (!Buffer.isBuffer(packet)) return undefined;
  const line = packet.subarray(0, Math.min(packet.length, 8192)).toString('latin1');
  return /^[A-Z]+ (\S+)/.exec(line)?.[1];
}

/** Fastify's `clientErrorHandler`: the HTTP layer's own refusals, in the owning family's shape. */
export function clientErrorHandler(families: readonly ErrorFamily[]) {
  return (error: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    // A request whose headers were read already (the error is in its body) is on the socket.
    const current = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    if (current?.headersSent) {
      socket.destroy(error);
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const url = current?.req?.url ?? targetOf(error.rawPacket) ?? '/';
    const family = families.find((f) => f.owns(url)) ?? FRAMEWORK_FAMILY;
    const { contentType, body } = family.render(status, MESSAGES[status]!);
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy(error);
  };
}
