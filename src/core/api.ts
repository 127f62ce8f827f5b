/**
 * Typed calls to a Third Loop instance (the contract in docs/api.md).
 * Every method resolves to the server's data or throws an ApiError sentence.
 */
import type { CliTokenRequest, CreateKeyRequest, KeyList, KeyResponse, Me, NewKey, RenameKeyRequest } from 'thirdloop-protocol';
import { CLI_AUTH_TOKEN_PATH, isKeyStatus } from 'thirdloop-protocol';
import { UserError } from './errors.js';
import { createHttp, type HttpOptions } from './http.js';

// The shapes of /api are the protocol's, shared with the server.
export {
  ACTIVE_KEY_LIMIT,
  DEFAULT_EXPIRY_DAYS,
  EXPIRY_DAYS,
  type ApiKey,
  type ExpiryDays,
  type KeyList,
  type KeyStatus,
  type Me,
  type NewKey,
} from 'thirdloop-protocol';

/** The gateway's (Anthropic-shaped) model list, which doctor reads. */
export interface Model {
  id: string;
  display_name?: string;
  type?: string;
  created_at?: string;
}

export interface ModelList {
  data: Model[];
  has_more?: boolean;
  first_id?: string | null;
  last_id?: string | null;
}

const keyPath = (id: string) => `/api/keys/${encodeURIComponent(id)}`;

export function createApi(options: HttpOptions) {
  const http = createHttp(options);
  const get = async <T>(path: string, auth?: 'bearer' | 'x-api-key') => (await http.send<T>({ method: 'GET', path, auth })).data;
  const post = async <T>(path: string, body?: unknown) => (await http.send<T>({ method: 'POST', path, body: body ?? {} })).data;

  return {
    baseUrl: http.baseUrl,
    http,
    me: async () => {
      const me = await get<Me>('/api/me');
      // A login portal or another API can answer 200 with JSON of its own.
      if (!me?.key || typeof me.key.id !== 'string' || !isKeyStatus(me.key.status)) {
        throw new UserError(`${http.baseUrl} answered /api/me in an unexpected shape; is it a Third Loop instance?`, {
          hint: 'Check that --api-url points at the Third Loop instance itself.',
        });
      }
      return me;
    },
    listKeys: () => get<KeyList>('/api/keys'),
    createKey: (input: CreateKeyRequest) => post<NewKey>('/api/keys', input),
    disableKey: (id: string) => post<KeyResponse>(`${keyPath(id)}/disable`),
    enableKey: (id: string) => post<KeyResponse>(`${keyPath(id)}/enable`),
    deleteKey: async (id: string): Promise<void> => {
      await http.send({ method: 'DELETE', path: keyPath(id) });
    },
    rotateKey: (id: string) => post<NewKey>(`${keyPath(id)}/rotate`),
    renameKey: async (id: string, name: string) =>
      (await http.send<KeyResponse>({ method: 'PATCH', path: keyPath(id), body: { name } satisfies RenameKeyRequest })).data,
    /** The loopback/code exchange; no credential needed (the code and verifier are the proof). */
    exchangeCliCode: async (input: CliTokenRequest) =>
      (await http.send<NewKey>({ method: 'POST', path: CLI_AUTH_TOKEN_PATH, body: input, auth: 'none' })).data,
    /** The gateway's model list, authenticated like Anthropic clients (x-api-key). */
    listModels: () => get<ModelList>('/v1/models', 'x-api-key'),
  };
}

export type Api = ReturnType<typeof createApi>;
