/** Server-sent events as Anthropic's Messages API writes them, and usage read from a passing stream. */

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
} as const;

/** One event: `event: <name>` then `data: <json>` and a blank line. */
export function sseEvent(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

export interface Usage {
  input_tokens: number | null;
  output_tokens: number | null;
}

const toCount = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : null;

/** Input counts prompt-cache reads and writes too: they are tokens the member sent. */
function inputTokens(usage: Record<string, unknown>): number | null {
  const base = toCount(usage.input_tokens);
  if (base === null) return null;
  return base + (toCount(usage.cache_creation_input_tokens) ?? 0) + (toCount(usage.cache_read_input_tokens) ?? 0);
}

/**
 * The `usage` object of a Messages response, read from the end of the text where Anthropic writes
 * it, without parsing the whole answer; undefined when the text does not end that way (the caller
 * then parses it all). Safe by construction: the candidate must be the top level's last member
 * (exactly one `}` after it) and parse on its own; a cut inside a string never parses.
 */
function usageAtEnd(text: string): Record<string, unknown> | undefined {
  const at = text.lastIndexOf('"usage":');
  if (at <= 0 || text.charCodeAt(at - 1) === 0x5c || !text.includes('"type":"message"')) return undefined;
  const open = at + 8;
  if (text.charCodeAt(open) !== 0x7b) return undefined;
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) {
      if (text.slice(i + 1).trim() !== '}') return undefined;
      try {
        const usage = JSON.parse(text.slice(open, i + 1)) as unknown;
        return usage && typeof usage === 'object' && !Array.isArray(usage) ? (usage as Record<string, unknown>) : undefined;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Usage from a non-streaming Messages response (or count_tokens' `{input_tokens}`). */
export function usageFromJson(text: string): Usage {
  const usage = usageAtEnd(text);
  if (usage) return { input_tokens: inputTokens(usage), output_tokens: toCount(usage.output_tokens) };
  try {
    const parsed = JSON.parse(text) as Record<string, unknown> | null;
    if (!parsed || typeof parsed !== 'object') return { input_tokens: null, output_tokens: null };
    if (parsed.type === 'message' && parsed.usage && typeof parsed.usage === 'object') {
      const usage = parsed.usage as Record<string, unknown>;
      return { input_tokens: inputTokens(usage), output_tokens: toCount(usage.output_tokens) };
    }
    if (parsed.type === undefined && 'input_tokens' in parsed) {
      return { input_tokens: toCount(parsed.input_tokens), output_tokens: null };
    }
  } catch {
    // Not JSON (an HTML error page from a proxy, a truncated body): no usage to record.
  }
  return { input_tokens: null, output_tokens: null };
}

/**
 * Watches an SSE byte stream go by and keeps the usage from `message_start` (input) and
 * `message_delta` (cumulative output). It holds only the current unfinished line, and parses
 * JSON only for the two event kinds that carry usage, so the text deltas cost one string scan.
 */
export class SseUsageTracker {
  readonly usage: Usage = { input_tokens: null, output_tokens: null };
  private pending = '';
  private event = '';
  private readonly decoder = new TextDecoder();

  push(chunk: Uint8Array): void {
    const text = this.pending + this.decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      this.line(text.charCodeAt(nl - 1) === 13 ? text.slice(start, nl - 1) : text.slice(start, nl));
      start = nl + 1;
    }
    this.pending = text.slice(start);
    // A line longer than any usage event is a content delta: drop it rather than grow without bound.
    if (this.pending.length > 65_536 && this.event !== 'message_start' && this.event !== 'message_delta') {
      this.pending = '';
    }
  }

  private line(line: string): void {
    if (line === '') {
      this.event = '';
      return;
    }
    if (line.startsWith('event:')) {
      this.event = line.slice(6).trim();
      return;
    }
    if (!line.startsWith('data:')) return;
    if (this.event !== 'message_start' && this.event !== 'message_delta') return;
    try {
      const data = JSON.parse(line.slice(5)) as Record<string, unknown>;
      if (data.type === 'message_start') {
        const message = data.message as Record<string, unknown> | undefined;
        const usage = message?.usage as Record<string, unknown> | undefined;
        if (usage) {
          this.usage.input_tokens = inputTokens(usage);
          this.usage.output_tokens = toCount(usage.output_tokens) ?? this.usage.output_tokens;
        }
      } else if (data.type === 'message_delta') {
        const usage = data.usage as Record<string, unknown> | undefined;
        if (usage) {
          this.usage.output_tokens = toCount(usage.output_tokens) ?? this.usage.output_tokens;
          // Newer API versions repeat the input count here; prefer it when present.
          this.usage.input_tokens = inputTokens(usage) ?? this.usage.input_tokens;
        }
      }
    } catch {
      // A malformed event is the client's to notice; the audit row just has no usage.
    }
  }
}
