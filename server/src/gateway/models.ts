/** The models this instance offers, in the shape of Anthropic's `GET /v1/models`, and model resolution. */
import type { ModelInfo } from '../config.js';
import { GatewayError } from './errors.js';

/** Release dates of the default models (Anthropic's `created_at`); others get a fixed date. */
const RELEASED: Record<string, string> = {
  'claude-sonnet-4-5': '2025-09-29T00:00:00Z',
  'claude-opus-4-5': '2025-11-24T00:00:00Z',
  'claude-haiku-4-5': '2025-10-15T00:00:00Z',
};
const UNKNOWN_RELEASE = '2025-01-01T00:00:00Z';

export interface ModelView {
  type: 'model';
  id: string;
  display_name: string;
  created_at: string;
}

export const modelView = (model: ModelInfo): ModelView => ({
  type: 'model',
  id: model.id,
  display_name: model.display_name,
  created_at: RELEASED[model.id] ?? UNKNOWN_RELEASE,
});

export interface ModelPage {
  data: ModelView[];
  has_more: boolean;
  first_id: string | null;
  last_id: string | null;
}

/** Anthropic's cursor pagination: `limit` (1–1000, default 20), `after_id` or `before_id` (not both). */
export function listModels(models: ModelInfo[], query: { limit?: unknown; after_id?: unknown; before_id?: unknown }): ModelPage {
  if (query.after_id !== undefined && query.before_id !== undefined) {
    throw new GatewayError(400, 'invalid_request_error', 'after_id and before_id cannot be used together.');
  }
  const all = models.map(modelView);
  const parsedLimit = Number(query.limit ?? 20);
  const limit = Number.isInteger(parsedLimit) ? Math.min(Math.max(parsedLimit, 1), 1000) : 20;
  let start = 0;
  let end = all.length;
  if (typeof query.after_id === 'string') {
    const at = all.findIndex((m) => m.id === query.after_id);
    start = at === -1 ? all.length : at + 1;
  } else if (typeof query.before_id === 'string') {
    const at = all.findIndex((m) => m.id === query.before_id);
    end = at === -1 ? 0 : at;
    start = Math.max(0, end - limit);
  }
  const data = all.slice(start, Math.min(end, start + limit));
  return {
    data,
    has_more: typeof query.before_id === 'string' ? start > 0 : start + data.length < end,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
  };
}

export interface FoundModel {
  /** The offered model (what `GET /v1/models/{id}` shows). */
  model: ModelInfo;
  /** The id sent upstream: the one asked for, or an alias's target. */
  upstreamId: string;
}

/**
 * The offered model a client's id stands for, or undefined when this instance does not offer it;
 * used by every endpoint, so an id resolves the same everywhere. Offered ids match exactly or in
 * their dated form (`claude-sonnet-4-5-20250929`, which clients such as Claude Code use by default);
 * `aliases` maps any other id to one of those (an alias to a model not offered resolves to nothing).
 */
export function findModel(requested: string, models: readonly ModelInfo[], aliases: Readonly<Record<string, string>>): FoundModel | undefined {
  const upstreamId = Object.hasOwn(aliases, requested) ? aliases[requested]! : requested;
  const base = /^(.+)-\d{8}$/.exec(upstreamId)?.[1];
  const model = models.find((m) => m.id === upstreamId) ?? models.find((m) => m.id === base);
  return model ? { model, upstreamId } : undefined;
}

/** The refusal for a model id this instance does not resolve, naming the ones it offers. */
export function modelNotOffered(requested: string, models: readonly ModelInfo[]): GatewayError {
  // Model ids are short; a long one is junk and is not worth echoing whole.
  const offered = models.map((m) => m.id).join(', ');
  return new GatewayError(404, 'not_found_error', `model: ${requested.slice(0, 128)} is not offered by this instance (offered: ${offered}).`);
}
