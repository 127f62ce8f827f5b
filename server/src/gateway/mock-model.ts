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
 * The characters of every piece of text in `value`: what the estimate counts. A loop over an
 * explicit stack, not recursion, so no nesting depth can overflow it (the parser bounds depth
 * anyway); it only sums lengths, allocating nothing per string.
 */
function textLength(value: unknown): number {
  let chars = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') chars += item.length;
    else if (Array.isArray(item)) for (const element of item) stack.push(element);
    else if (isObject(item)) {
      for (const key of Object.keys(item)) {
        const child = item[key];
        // Base64 images and documents would dwarf the estimate; count them as a flat cost instead.
        if (key === 'data' && typeof child === 'string' && item.type === 'base64') chars += 1_000;
        else if (!NOT_TEXT.has(key)) stack.push(child);
      }
    }
  }
  return chars;
}

const estimate = (chars: number) => Math.max(1, Math.ceil(chars / 4));

/** The text of one message: its content string, or its text blocks joined by spaces; undefined when it has no text blocks. */
function messageText(message: Json): string | undefined {
  if (typeof message.content === 'string') return message.content;
  const texts = (message.content as unknown[])
    .filter((block): block is Json => isObject(block) && block.type === 'text' && typeof block.text === 'string')
    .map((block) => block.text as string);
  return texts.length > 0 ? texts.join(' ') : undefined;
}

/**
 * What the offline model reads from a request: enough to check it and answer, without keeping the
 * request. Fed whole (`of`) or one top-level field and one message at a time as a body is parsed
 * (so a long conversation is never held in memory: each message is read, then dropped).
 */
export class RequestSummary {
  maxTokens: unknown;
  stream: unknown;
  /** `messages` was present and an array. */
  messagesIsArray = false;
  messageCount = 0;
  /** The first invalid message's refusal, as Anthropic words it. */
  messageProblem: string | undefined;
  /** The text of the last user message that had any: what the reply quotes. */
  lastUserText = '';
  /** Characters of text in `system`, `messages` and `tools`: what the token estimate counts. */
  textChars = 0;

  static of(body: Json): RequestSummary {
    const summary = new RequestSummary();
    for (const key of Object.keys(body)) {
      const value = body[key];
      if (key === 'messages' && Array.isArray(value)) {
        summary.messagesArray();
        for (const message of value) summary.message(message);
      } else summary.field(key, value);
    }
    return summary;
  }

  /** A top-level field other than the elements of `messages`. */
  field(key: string, value: unknown): void {
    if (key === 'max_tokens') this.maxTokens = value;
    else if (key === 'stream') this.stream = value;
    else if (key === 'system' || key === 'tools') this.textChars += textLength(value);
    else if (key === 'messages') this.messagesIsArray = false;
  }

  /** `messages` is an array (its elements come through `message`). */
  messagesArray(): void {
    this.messagesIsArray = true;
  }

  message(message: unknown): void {
    const index = this.messageCount++;
    this.textChars += textLength(message);
    if (this.messageProblem) return;
    if (!isObject(message)) {
      this.messageProblem = `messages.${index}: must be an object`;
    } else if (message.role !== 'user' && message.role !== 'assistant') {
      this.messageProblem = `messages.${index}.role: must be "user" or "assistant"`;
    } else if (typeof message.content !== 'string' && !Array.isArray(message.content)) {
      this.messageProblem = `messages.${index}.content: must be a string or a list of content blocks`;
    } else if (message.role === 'user') {
      const text = messageText(message);
      if (text !== undefined) this.lastUserText = text;
    }
  }

  checkMessages(): void {
    if (!this.messagesIsArray || this.messageCount === 0) throw invalid('messages: at least one message is required');
    if (this.messageProblem) throw invalid(this.messageProblem);
  }
}

/** Which model ids the offline model answers to (the instance's offered models and their dated forms). */
export type KnowsModel = (model: string) => boolean;

function checkModel(body: Json, knows: KnowsModel): string {
  if (typeof body.model !== 'string' || body.model === '') throw invalid('model: Field required');
  if (!knows(body.model)) throw new GatewayError(404, 'not_found_error', `model: ${body.model}`);
  return body.model;
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

/** The id of an answer: from the SHA-256 (hex) of the request. */
const messageId = (bodyHash: string) => `msg_mock_${bodyHash.slice(0, 24)}`;

const hashOf = (body: Json) => createHash('sha256').update(JSON.stringify(body)).digest('hex');

/** `count_tokens` for a request read whole. */
export function mockCountTokens(body: unknown, knows: KnowsModel): { input_tokens: number } {
  if (!isObject(body)) throw invalid('The request body must be a JSON object.');
  checkModel(body, knows);
  return countTokens(RequestSummary.of(body));
}

/** `count_tokens` from a summary (the model already checked). */
export function countTokens(summary: RequestSummary): { input_tokens: number } {
  summary.checkMessages();
  return { input_tokens: estimate(summary.textChars) };
}

/** A Messages answer for a request read whole. */
export function mockMessages(body: unknown, knows: KnowsModel): MockAnswer {
  if (!isObject(body)) throw invalid('The request body must be a JSON object.');
  const model = checkModel(body, knows);
  return answerMessages(RequestSummary.of(body), model, hashOf(body));
}

/**
 * A Messages answer from a summary. `model` is the id as resolved (already checked); `bodyHash`
 * the SHA-256 (hex) of the request, which names the answer, so the same request gets the same one.
 */
export function answerMessages(summary: RequestSummary, model: string, bodyHash: string): MockAnswer {
  const maxTokens = summary.maxTokens;
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
    throw invalid('max_tokens: must be a positive integer');
  }
  summary.checkMessages();
  if (summary.stream !== undefined && typeof summary.stream !== 'boolean') throw invalid('stream: must be a boolean');

  const input_tokens = estimate(summary.textChars);
  const all = replyPieces(summary.lastUserText);
  const pieces = all.slice(0, maxTokens);
  const stop_reason = pieces.length < all.length ? 'max_tokens' : 'end_turn';
  const text = pieces.join('');
  const output_tokens = pieces.length;
  const id = messageId(bodyHash);
  const usage = { input_tokens, output_tokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };

  if (summary.stream !== true) {
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
