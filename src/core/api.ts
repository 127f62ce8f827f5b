/**
 * Typed calls to a Third Loop instance (the contract in docs/api.md).
 * Every method resolves to the server's data or throws an ApiError sentence.
 */
import { UserError } from './errors.js';
import { createHttp, type HttpOptions } from './http.js';

export type KeyStatus = 'active' | 'suspended' | 'expired' | 'compromised';
const KEY_STATUSES: readonly string[] = ['active', 'suspended', 'expired', 'compromised'];
export const EXPIRY_DAYS = [30, 60, 90, 180, 365] as const;
export type ExpiryDays = (typeof EXPIRY_DAYS)[number];
export const DEFAULT_EXPIRY_DAYS: ExpiryDays = 90;
export const ACTIVE_KEY_LIMIT = 2;

export interface ApiKey {
  id: string;
  name: string;
  status: KeyStatus;
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
}

export interface KeyList {
  keys: ApiKey[];
  active_count: number;
  active_limit: number;
}

/** Create, rotate and the CLI token exchange: the secret, shown once. */
export interface NewKey {
  key: ApiKey;
  secret_key: string;
  /** `<id>;<secret>` */
  credential: string;
  /** The account the key belongs to: sent by the CLI sign-in exchange (POST /api/cli-auth/token). */
  user?: { email: string };
}

export interface Me {
  user: { email: string };
  key: ApiKey;
}

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
      if (!me?.key || typeof me.key.id !== 'string' || !KEY_STATUSES.includes(me.key.status)) {
        throw new UserError(`${http.baseUrl} answered /api/me in an unexpected shape; is it a Third Loop instance?`, {
          hint: 'Check that --api-url points at the Third Loop instance itself.',
        });
      }
      return me;
    },
    listKeys: () => get<KeyList>('/api/keys'),
    createKey: (input: { name: string; expires_in_days?: number }) => post<NewKey>('/api/keys', input),
    disableKey: (id: string) => post<{ key: ApiKey }>(`${keyPath(id)}/disable`),
    enableKey: (id: string) => post<{ key: ApiKey }>(`${keyPath(id)}/enable`),
    deleteKey: async (id: string): Promise<void> => {
      await http.send({ method: 'DELETE', path: keyPath(id) });
    },
    rotateKey: (id: string) => post<NewKey>(`${keyPath(id)}/rotate`),
    renameKey: async (id: string, name: string) =>
      (await http.send<{ key: ApiKey }>({ method: 'PATCH', path: keyPath(id), body: { name } })).data,
    /** The loopback/code exchange; no credential needed (the code and verifier are the proof). */
    exchangeCliCode: async (input: { code: string; code_verifier: string; redirect_uri?: string }) =>
      (await http.send<NewKey>({ method: 'POST', path: '/api/cli-auth/token', body: input, auth: 'none' })).data,
    /** The gateway's model list, authenticated like Anthropic clients (x-api-key). */
    listModels: () => get<ModelList>('/v1/models', 'x-api-key'),
  };
}

export type Api = ReturnType<typeof createApi>;
