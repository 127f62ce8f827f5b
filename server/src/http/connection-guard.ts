/**
 * Bounds the idle connections one client address may hold: open sockets with no request in
 * progress, before their first request or between keep-alive requests. Connections doing work
 * are never touched, and no connection is closed under a client that may be sending on it:
 *
 * - a keep-alive connection that would take its address past the bound is told so in the answer
 *   that ends its request (`Connection: close`), so the client knows not to reuse it;
 * - connections that never carried a request (what a flood of silent sockets is made of) are
 *   closed oldest first once the address is past the bound, but only after `minIdleMs` idle, so a
 *   request already on its way over a just-opened connection is not cut.
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
  /** How long a never-used connection must have been idle before it may be closed (default 2 s). */
  minIdleMs?: number;
  now?: () => number;
}

export interface ConnectionGuard {
  /** Idle connections currently held by an address (for tests and diagnostics). */
  idleCount(address: string): number;
}

interface AddressState {
  /** Never carried a request, in the order they connected, with when. */
  fresh: Map<Socket, number>;
  /** Keep-alive connections between requests. */
  reusable: Set<Socket>;
  timer?: NodeJS.Timeout;
}

export function guardIdleConnections(server: Server, options: ConnectionGuardOptions): ConnectionGuard {
  const minIdleMs = options.minIdleMs ?? 2000;
  const now = options.now ?? (() => performance.now());
  const addresses = new Map<string, AddressState>();
  const inFlight = new WeakMap<Socket, number>();
  const keyOf = new WeakMap<Socket, string | null>();
  const silent = new WeakMap<Socket, NodeJS.Timeout>();

  const key = (socket: Socket): string | null => {
    let k = keyOf.get(socket);
    if (k === undefined) {
      const address = socket.remoteAddress;
      k = !address || options.exempt(address) ? null : limiterAddress(address);
      keyOf.set(socket, k);
    }
    return k;
  };
  const stateOf = (k: string): AddressState => {
    let state = addresses.get(k);
    if (!state) addresses.set(k, (state = { fresh: new Map(), reusable: new Set() }));
    return state;
  };
  const forget = (k: string, state: AddressState) => {
    if (state.fresh.size === 0 && state.reusable.size === 0) {
      clearTimeout(state.timer);
      addresses.delete(k);
    }
  };
  const idle = (state: AddressState) => state.fresh.size + state.reusable.size;

  /** Closes never-used connections past the bound, oldest first; comes back for those too young yet. */
  const enforce = (k: string) => {
    const state = addresses.get(k);
    if (!state) return;
    clearTimeout(state.timer);
    state.timer = undefined;
    const t = now();
    // A Map iterates in insertion order, so the first too young to close ends the pass.
    for (const [socket, since] of state.fresh) {
      if (idle(state) <= options.maxIdlePerAddress || t - since < minIdleMs) break;
      state.fresh.delete(socket);
      socket.destroy();
    }
    if (idle(state) > options.maxIdlePerAddress && state.fresh.size > 0) {
      const oldest = state.fresh.values().next().value!;
      state.timer = setTimeout(() => enforce(k), Math.max(10, oldest + minIdleMs - t));
      state.timer.unref();
    }
    forget(k, state);
  };

  server.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), options.firstRequestTimeoutMs);
    timer.unref();
    silent.set(socket, timer);
    const k = key(socket);
    socket.once('close', () => {
      clearTimeout(timer);
      if (k === null) return;
      const state = addresses.get(k);
      if (!state) return;
      state.fresh.delete(socket);
      state.reusable.delete(socket);
      forget(k, state);
    });
    if (k === null) return;
    const state = stateOf(k);
    state.fresh.set(socket, now());
    if (idle(state) > options.maxIdlePerAddress) enforce(k);
  });

  // Before Fastify's own listener, so the Connection header is in place before any answer starts.
  server.prependListener('request', (request, response) => {
    const socket = request.socket;
    clearTimeout(silent.get(socket));
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    const k = key(socket);
    if (k === null) return;
    const state = stateOf(k);
    state.fresh.delete(socket);
    state.reusable.delete(socket);
    // Kept alive after this answer, it would be one idle connection too many: say so now.
    if (idle(state) >= options.maxIdlePerAddress) response.setHeader('connection', 'close');
    response.once('close', () => {
      const left = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, left);
      if (left === 0 && !socket.destroyed && response.getHeader('connection') !== 'close') stateOf(k).reusable.add(socket);
    });
  });
  server.once('close', () => {
    for (const state of addresses.values()) clearTimeout(state.timer);
  });

  return {
    idleCount: (address) => {
      const state = addresses.get(limiterAddress(address));
      return state ? idle(state) : 0;
    },
  };
}
