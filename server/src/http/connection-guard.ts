/**
 * Bounds the idle connections one client address may hold: open sockets with no request in
 * progress (before their first request has arrived, or between keep-alive requests). Past the
 * bound, idle connections are closed, so a client opening thousands of silent connections cannot
 * exhaust the server, while connections doing work are never touched:
 *
 * - only a connection idle for at least `minIdleMs` is closed, so a request already on its way
 *   over a just-opened (or just-reused) connection is not cut;
 * - connections that never carried a request go first (what a flood of silent sockets is made
 *   of), oldest first; keep-alive connections of real clients only after those.
 *
 * Trusted proxies, which carry many clients' connections, are exempt from the bound. Keyed like
 * the limiters (limiterAddress). Whatever its address, a connection that never completes a
 * request is closed after `firstRequestTimeoutMs`.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { limiterAddress } from './client-address.js';

export interface ConnectionGuardOptions {
  maxIdlePerAddress: number;
  /**
   * A connection that has not completed its first request by then is closed. (Node's own
   * headersTimeout only starts at a request's first byte, so a connection that says nothing at
   * all would otherwise stay open until the client leaves.)
   */
  firstRequestTimeoutMs: number;
  exempt: (address: string | undefined) => boolean;
  /** How long a connection must have been idle before it may be closed (default 2 s). */
  minIdleMs?: number;
  now?: () => number;
}

export interface ConnectionGuard {
  /** Idle connections currently held by an address (for tests and diagnostics). */
  idleCount(address: string): number;
}

interface Idle {
  since: number;
  /** Has carried a request (a keep-alive connection) rather than none yet. */
  used: boolean;
}

export function guardIdleConnections(server: Server, options: ConnectionGuardOptions): ConnectionGuard {
  const minIdleMs = options.minIdleMs ?? 2000;
  const now = options.now ?? (() => performance.now());
  /** Per address, its idle sockets in the order they became idle. */
  const idle = new Map<string, Map<Socket, Idle>>();
  const timers = new Map<string, NodeJS.Timeout>();
  const inFlight = new WeakMap<Socket, number>();
  const keyOf = new WeakMap<Socket, string | null>();

  const key = (socket: Socket): string | null => {
    let k = keyOf.get(socket);
    if (k === undefined) {
      const address = socket.remoteAddress;
      k = !address || options.exempt(address) ? null : limiterAddress(address);
      keyOf.set(socket, k);
    }
    return k;
  };

  const leave = (socket: Socket) => {
    const k = key(socket);
    const sockets = k === null ? undefined : idle.get(k);
    if (!sockets) return;
    sockets.delete(socket);
    if (sockets.size === 0) idle.delete(k!);
  };

  /** Closes idle sockets of `k` past the bound; if the rest are too young yet, comes back when one is not. */
  const enforce = (k: string) => {
    clearTimeout(timers.get(k));
    timers.delete(k);
    const sockets = idle.get(k);
    if (!sockets) return;
    const t = now();
    // A Map iterates in insertion order, which is the order the sockets became idle: the first
    // too young to close ends each pass.
    for (const used of [false, true]) {
      for (const [socket, state] of sockets) {
        if (sockets.size <= options.maxIdlePerAddress || t - state.since < minIdleMs) break;
        if (state.used !== used) continue;
        sockets.delete(socket);
        socket.destroy();
      }
    }
    if (sockets.size > options.maxIdlePerAddress) {
      const oldest = sockets.values().next().value!.since;
      const timer = setTimeout(() => enforce(k), Math.max(10, oldest + minIdleMs - t));
      timer.unref();
      timers.set(k, timer);
    }
  };

  const enter = (socket: Socket, used: boolean) => {
    const k = key(socket);
    if (k === null || socket.destroyed) return;
    let sockets = idle.get(k);
    if (!sockets) idle.set(k, (sockets = new Map()));
    sockets.set(socket, { since: now(), used });
    if (sockets.size > options.maxIdlePerAddress) enforce(k);
  };

  const silent = new WeakMap<Socket, NodeJS.Timeout>();
  server.on('connection', (socket: Socket) => {
    enter(socket, false);
    const timer = setTimeout(() => socket.destroy(), options.firstRequestTimeoutMs);
    timer.unref();
    silent.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      leave(socket);
    });
  });
  server.on('request', (request, response) => {
    const socket = request.socket;
    clearTimeout(silent.get(socket));
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    leave(socket);
    response.once('close', () => {
      const left = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, left);
      if (left === 0 && !socket.destroyed) enter(socket, true);
    });
  });
  server.once('close', () => {
    for (const timer of timers.values()) clearTimeout(timer);
  });

  return { idleCount: (address) => idle.get(limiterAddress(address))?.size ?? 0 };
}
