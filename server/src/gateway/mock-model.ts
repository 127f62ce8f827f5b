/**
 * The offline model behind `--upstream mock`: answers the Messages API deterministically, with the
 * same event sequence and usage fields as Anthropic's, so the whole system runs with no network and
 * no provider key. Token counts are estimates (about four characters a token), stable for a given input.
 */
import { createHash } from 'node:crypto';
import { GatewayError } from './errors.js';
import { sseEvent } from './sse.js';

export interface MockAnswer {
  /** The full message (non-streaming) or the SSE events in order (streaming). */
  json?: Record<string, unknown>;
  events?: string[];
  input_tokens: number;
  output_tokens: number;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function invalid(message: string): GatewayError {
  return new GatewayError(400, 'invalid_request_error', message);
}

/** Keys whose values are protocol, not text the member sent. */
const NOT_TEXT = new Set(['type', 'role', 'cache_control']);

/**
 * The characters of every piece of text a request carries: what the estimate counts. A loop over
 * an explicit stack, not recursion, so no nesting depth can overflow it (the parser bounds depth
 * anyway); it only sums lengths, allocating nothing per string.
 */
function textLength(parts: unknown[]): number {
  let chars = 0;
  const stack: unknown[] = [...parts];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') chars += value.length;
    else if (Array.isArray(value)) for (const item of value) stack.push(item);
    else if (isObject(value)) {
      for (const key of Object.keys(value)) {
        const item = value[key];
        // Base64 images and documents would dwarf the estimate; count them as a flat cost instead.
        if (key === 'data' && typeof item === 'string' && value.type === 'base64') chars += 1_000;
        else if (!NOT_TEXT.has(key)) stack.push(item);
      }
    }
  }
  return chars;
}

export function estimateTokens(parts: unknown[]): number {
  return Math.max(1, Math.ceil(textLength(parts) / 4));
}

function checkMessages(body: Json): Json[] {
  const { messages } = body;
  if (!Array.isArray(messages) || messages.length === 0) throw invalid('messages: at least one message is required');
  messages.forEach((message, index) => {
    if (!isObject(message)) throw invalid(`messages.${index}: must be an object`);
    if (message.role !== 'user' && message.role !== 'assistant') {
      throw invalid(`messages.${index}.role: must be "user" or "assistant"`);
    }
    if (typeof message.content !== 'string' && !Array.isArray(message.content)) {
      throw invalid(`messages.${index}.content: must be a string or a list of content blocks`);
    }
  });
  return messages as Json[];
}

/** Which model ids the offline model answers to (the instance's offered models and their dated forms). */
export type KnowsModel = (model: string) => boolean;

function checkModel(body: Json, knows: KnowsModel): string {
  if (typeof body.model !== 'string' || body.model === '') throw invalid('model: Field required');
  if (!knows(body.model)) throw new GatewayError(404, 'not_found_error', `model: ${body.model}`);
  return body.model;
}

function lastUserText(messages: Json[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (message.role !== 'user') continue;
    if (typeof message.content === 'string') return message.content;
    const texts = (message.content as unknown[])
      .filter((block): block is Json => isObject(block) && block.type === 'text' && typeof block.text === 'string')
      .map((block) => block.text as string);
    if (texts.length > 0) return texts.join(' ');
  }
  return '';
}

/** The reply, as word-sized pieces; each piece counts as one output token. */
function replyPieces(prompt: string): string[] {
  const words = prompt.replace(/\s+/g, ' ').trim().split(' ').filter(Boolean);
  const quoted = words.slice(0, 24).join(' ') + (words.length > 24 ? ' …' : '');
  const text = quoted
    ? `Hello from the Third Loop offline model. You said: "${quoted}". No provider was called for this answer.`
    : 'Hello from the Third Loop offline model. No provider was called for this answer.';
  return text.split(/(?<= )/);
}

/** The id of the answer to a body: from a hash of its bytes when the caller has them (a stream), else of the value. */
export function messageId(hashOfBody: string): string {
  return `msg_mock_${hashOfBody.slice(0, 24)}`;
}

const hashOf = (body: Json) => createHash('sha256').update(JSON.stringify(body)).digest('hex');

export function mockCountTokens(body: unknown, knows: KnowsModel): { input_tokens: number } {
  if (!isObject(body)) throw invalid('The request body must be a JSON object.');
  checkModel(body, knows);
  checkMessages(body);
  return { input_tokens: estimateTokens([body.system, body.messages, body.tools]) };
}

/** `bodyHash`: the SHA-256 (hex) of the request's bytes, which the gateway computes as they arrive. */
export function mockMessages(body: unknown, knows: KnowsModel, bodyHash?: string): MockAnswer {
  if (!isObject(body)) throw invalid('The request body must be a JSON object.');
  const model = checkModel(body, knows);
  const maxTokens = body.max_tokens;
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
    throw invalid('max_tokens: must be a positive integer');
  }
  const messages = checkMessages(body);
  if (body.stream !== undefined && typeof body.stream !== 'boolean') throw invalid('stream: must be a boolean');

  const input_tokens = estimateTokens([body.system, body.messages, body.tools]);
  const all = replyPieces(lastUserText(messages));
  const pieces = all.slice(0, maxTokens);
  const stop_reason = pieces.length < all.length ? 'max_tokens' : 'end_turn';
  const text = pieces.join('');
  const output_tokens = pieces.length;
  const id = messageId(bodyHash ?? hashOf(body));
  const usage = { input_tokens, output_tokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };

  if (body.stream !== true) {
    return {
      json: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text }],
        stop_reason,
        stop_sequence: null,
        usage,
      },
      input_tokens,
      output_tokens,
    };
  }

  const events = [
    sseEvent('message_start', {
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    }),
    sseEvent('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sseEvent('ping', { type: 'ping' }),
  ];
  // A few words per delta, as a real model streams.
  for (let i = 0; i < pieces.length; i += 3) {
    events.push(
      sseEvent('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: pieces.slice(i, i + 3).join('') },
      }),
    );
  }
  events.push(
    sseEvent('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sseEvent('message_delta', {
      type: 'message_delta',
      delta: { stop_reason, stop_sequence: null },
      usage: { output_tokens },
    }),
    sseEvent('message_stop', { type: 'message_stop' }),
  );
  return { events, input_tokens, output_tokens };
}
