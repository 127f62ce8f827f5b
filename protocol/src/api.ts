/**
 * The JSON of `/api` (docs/api.md): what the server sends and the CLI reads,
 * request bodies, and the error body with its types.
 */
import type { ExpiryDays, KeyStatus } from './keys.js';

/** Request bodies on /api are capped at 16 KiB (413 above that). */
export const API_BODY_LIMIT = 16 * 1024;

/** A key as the API shows it. Times are ISO 8601 in UTC. */
export interface ApiKey {
  id: string;
  name: string;
  status: KeyStatus;
  created_at: string;
  expires_at: string;
  /** null for a key never used. */
  last_used_at: string | null;
}

/** `GET /api/keys` */
export interface KeyList {
  keys: ApiKey[];
  active_count: number;
  active_limit: number;
}

/** `GET /api/keys/{id}`, `POST …/disable|enable`, `PATCH /api/keys/{id}` */
export interface KeyResponse {
  key: ApiKey;
}

/** `POST /api/keys`, `POST …/rotate` and the CLI token exchange: the secret, shown once. */
export interface NewKey {
  key: ApiKey;
  secret_key: string;
  /** `<id>;<secret>` */
  credential: string;
  /** The token exchange only: the account that approved, so the CLI can say whom it signed in as. */
  user?: { email: string };
}

/** `GET /api/me`: who the credential belongs to, and the calling key. */
export interface Me {
  user: { email: string };
  key: ApiKey;
}

/** `POST /api/keys` */
export interface CreateKeyRequest {
  name: string;
  /** Default DEFAULT_EXPIRY_DAYS. */
  expires_in_days?: ExpiryDays | number;
}

/** `PATCH /api/keys/{id}` */
export interface RenameKeyRequest {
  name: string;
}

export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'conflict_error'
  | 'request_too_large'
  | 'unsupported_media_type'
  | 'rate_limit_error'
  | 'invalid_grant'
  | 'api_error';

/** The type each status carries unless a route names another (`invalid_grant`). */
export const ERROR_TYPE_BY_STATUS: Readonly<Record<number, ApiErrorType>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  408: 'invalid_request_error',
  409: 'conflict_error',
  413: 'request_too_large',
  414: 'invalid_request_error',
  415: 'unsupported_media_type',
  429: 'rate_limit_error',
  431: 'invalid_request_error',
  500: 'api_error',
};

/**
 * Every `/api` error: `{"error": {"type": "conflict_error", "message": "Expired keys can only be deleted."}}`.
 * A wrong one-time code for a sign-in still pending also says how many tries it has left
 * (`invalid_grant`, `attempts_left`; 0 when that was the last).
 */
export interface ApiErrorBody {
  error: { type: ApiErrorType; message: string; attempts_left?: number };
}

