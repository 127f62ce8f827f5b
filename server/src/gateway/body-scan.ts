/**
 * Reads the top level of a JSON object as its bytes go by, without parsing it: where `model` is (so
 * the gateway can check it and rewrite an alias before the first byte goes upstream) and what
 * `stream` is. Everything below the top level is skipped at memchr speed (strings are jumped over
 * with `indexOf`), never decoded or allocated, so a 10 MiB conversation costs a few milliseconds
 * spread over the chunks it arrives in.
 *
 * It reads on to the end even after `model` is found: a second top-level `model` is refused, since
 * the provider's parser would take the last one and the allowlist would check the wrong id.
 *
 * It checks only what it needs (the top level's shape); the provider validates the rest. The state
 * is a few numbers, so it works on any cut of the body into chunks.
 */

/** Why a body is refused; the route turns these into the gateway's 400s. */
export type ScanProblem =
  /** Empty, or a JSON value that is not an object. */
  | 'not-object'
  /** Not JSON (as far as the top level shows). */
  | 'invalid-json'
  /** An object without `model`, or whose `model` is not a non-empty string. */
  | 'no-model'
  /** `model` given twice at the top level. */
  | 'duplicate-model';

export interface FoundModelToken {
  /** The decoded id. */
  value: string;
  /** Byte offsets of the whole string token, quotes included, from the start of the body. */
  start: number;
  end: number;
}

/** The raw text kept of a top-level key: longer keys cannot spell `model` or `stream`, even escaped. */
const KEY_CAPTURE = 64;
/** Model ids are short; a longer value is kept cut to this many bytes (and will not be offered). */
const MODEL_CAPTURE = 1024;

const enum S {
  /** Before the first non-space byte. */
  Start,
  /** After `{`: a key or `}`. */
  FirstKey,
  /** After `,`: a key. */
  Key,
  InKey,
  Colon,
  Value,
  /** A top-level string value (captured when it is `model`'s). */
  InString,
  /** A top-level number or literal. */
  Scalar,
  /** Inside an object or array below the top level. */
  Nested,
  AfterValue,
  /** After the closing `}`: only spaces may follow. */
  End,
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Number of consecutive backslashes ending just before `at`, not looking before `from`. */
function backslashesBefore(chunk: Uint8Array, at: number, from: number): number {
  let n = 0;
  for (let i = at - 1; i >= from && chunk[i] === BACKSLASH; i--) n++;
  return n;
}

export class TopLevelScanner {
  /** Set once `model` was read (a non-empty string value). */
  model: FoundModelToken | undefined;
  /** `stream`'s value when it is a literal (`true`, `false`, …), undefined when absent. */
  stream: string | undefined;
  /** Set when the body is refused; nothing after it is read. */
  problem: ScanProblem | undefined;
  /** Bytes seen so far. */
  offset = 0;

  private state = S.Start;
  /** Depth below the top level while in `Nested`. */
  private depth = 0;
  /** In a string inside `Nested`. */
  private nestedString = false;
  /** The previous chunk ended on an odd run of backslashes inside a string: the next byte is escaped. */
  private escaped = false;
  /** The raw bytes of the current key or captured value, and whether they were cut. */
  private capture: number[] = [];
  private captureCut = false;
  private valueStart = 0;
  /** Which top-level key the current value belongs to. */
  private key: 'model' | 'stream' | 'other' = 'other';

  /** Reads the next piece of the body. Returns the problem, if the body is now refused. */
  push(chunk: Buffer): ScanProblem | undefined {
    if (this.problem) return this.problem;
    const base = this.offset;
    this.offset += chunk.length;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case S.Nested:
          i = this.skipNested(chunk, i);
          break;
        case S.InString:
        case S.InKey:
          i = this.readString(chunk, i, base);
          break;
        default: {
          const c = chunk[i]!;
          if (!this.structural(c, base + i)) return this.problem;
          i++;
        }
      }
    }
    return this.problem;
  }

  /** The body ended. Returns the problem, if any (a missing or cut `model` included). */
  end(): ScanProblem | undefined {
    if (this.problem) return this.problem;
    if (this.state === S.Start) return this.fail('not-object');
    if (this.state !== S.End) return this.fail('invalid-json');
    if (!this.model) return this.fail('no-model');
    return undefined;
  }

  private fail(problem: ScanProblem): ScanProblem {
    this.problem = problem;
    return problem;
  }

  /** One byte outside strings at the top level. False when it refuses the body. */
  private structural(c: number, at: number): boolean {
    switch (this.state) {
      case S.Start:
        if (isSpace(c)) return true;
        if (c === 0x7b) {
          this.state = S.FirstKey;
          return true;
        }
        // `[`, a string, a number or a literal is JSON but not an object; anything else is not JSON.
        this.fail(c === 0x5b || c === QUOTE || c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e ? 'not-object' : 'invalid-json');
        return false;
      case S.FirstKey:
      case S.Key:
        if (isSpace(c)) return true;
        if (c === QUOTE) {
          this.state = S.InKey;
          this.capture.length = 0;
          this.captureCut = false;
          return true;
        }
        if (c === 0x7d && this.state === S.FirstKey) {
          this.state = S.End;
          return true;
        }
        this.fail('invalid-json');
        return false;
      case S.Colon:
        if (isSpace(c)) return true;
        if (c === 0x3a) {
          this.state = S.Value;
          return true;
        }
        this.fail('invalid-json');
        return false;
      case S.Value:
        if (isSpace(c)) return true;
        if (c === QUOTE) {
          this.state = S.InString;
          this.valueStart = at;
          this.capture.length = 0;
          this.captureCut = false;
          return true;
        }
        if (c === 0x7b || c === 0x5b) {
          // `model` as an object or array is not a model id.
          if (this.key === 'model') {
            this.fail('no-model');
            return false;
          }
          this.state = S.Nested;
          this.depth = 1;
          this.nestedString = false;
          return true;
        }
        if (c === 0x2c || c === 0x7d || c === 0x3a || c === 0x5d) {
          this.fail('invalid-json');
          return false;
        }
        this.state = S.Scalar;
        this.capture.length = 0;
        this.capture.push(c);
        return true;
      case S.Scalar:
        if (c === 0x2c || c === 0x7d || isSpace(c)) {
          this.endScalar();
          if (this.problem) return false;
          this.state = S.AfterValue;
          return this.structural(c, at);
        }
        if (this.capture.length < 16) this.capture.push(c);
        return true;
      case S.AfterValue:
        if (isSpace(c)) return true;
        if (c === 0x2c) {
          this.state = S.Key;
          return true;
        }
        if (c === 0x7d) {
          this.state = S.End;
          return true;
        }
        this.fail('invalid-json');
        return false;
      case S.End:
        if (isSpace(c)) return true;
        this.fail('invalid-json');
        return false;
      default:
        return true;
    }
  }

  private endScalar(): void {
    const text = String.fromCharCode(...this.capture);
    // `"model": null` and friends: present but not an id.
    if (this.key === 'model') this.fail('no-model');
    else if (this.key === 'stream') this.stream = text;
  }

  /**
   * Inside a top-level key or string value: finds the closing quote, keeping the bytes when they
   * may matter (a key; `model`'s value) and jumping over them otherwise.
   */
  private readString(chunk: Buffer, i: number, base: number): number {
    const keep = this.state === S.InKey || this.key === 'model';
    const limit = this.state === S.InKey ? KEY_CAPTURE : MODEL_CAPTURE;
    const captureFrom = i;
    if (this.escaped) {
      // This byte was escaped at the end of the last chunk; backslash runs are counted after it.
      this.escaped = false;
      i++;
    }
    const from = i;
    for (;;) {
      const q = keep ? indexOfQuoteShort(chunk, i) : chunk.indexOf(QUOTE, i);
      if (q === -1) {
        // The string goes on in the next chunk; remember whether its last byte escapes the next one.
        this.escaped = backslashesBefore(chunk, chunk.length, from) % 2 === 1;
        if (keep) this.keep(chunk, captureFrom, chunk.length, limit);
        return chunk.length;
      }
      if (backslashesBefore(chunk, q, from) % 2 === 1) {
        i = q + 1;
        continue;
      }
      if (keep) this.keep(chunk, captureFrom, q, limit);
      this.closeString(base + q + 1);
      return q + 1;
    }
  }

  private keep(chunk: Buffer, from: number, to: number, limit: number): void {
    for (let j = from; j < to; j++) {
      if (this.capture.length >= limit) {
        this.captureCut = true;
        return;
      }
      this.capture.push(chunk[j]!);
    }
  }

  /** A top-level string ended at `end` (the offset after its closing quote). */
  private closeString(end: number): void {
    if (this.state === S.InKey) {
      this.state = S.Colon;
      this.key = this.captureCut ? 'other' : keyOf(this.capture);
      if (this.key === 'model' && this.model) this.fail('duplicate-model');
      return;
    }
    this.state = S.AfterValue;
    if (this.key !== 'model') return;
    // A cut id is kept as its first bytes, undecoded: it is junk that no instance offers.
    const value = this.captureCut ? Buffer.from(this.capture).toString('utf8') : decodeString(this.capture);
    if (value === undefined) {
      this.fail('invalid-json');
      return;
    }
    if (value === '') {
      this.fail('no-model');
      return;
    }
    this.model = { value, start: this.valueStart, end };
  }

  /** Below the top level: brackets change the depth, strings are jumped over. */
  private skipNested(chunk: Buffer, i: number): number {
    const n = chunk.length;
    while (i < n) {
      if (this.nestedString) {
        if (this.escaped) {
          this.escaped = false;
          i++;
        }
        const from = i;
        for (;;) {
          const q = chunk.indexOf(QUOTE, i);
          if (q === -1) {
            this.escaped = backslashesBefore(chunk, n, from) % 2 === 1;
            return n;
          }
          if (backslashesBefore(chunk, q, from) % 2 === 1) {
            i = q + 1;
            continue;
          }
          i = q + 1;
          this.nestedString = false;
          break;
        }
        continue;
      }
      const c = chunk[i++]!;
      if (c === QUOTE) this.nestedString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (--this.depth === 0) {
          this.state = S.AfterValue;
          return i;
        }
      }
    }
    return n;
  }
}

const MODEL = [0x6d, 0x6f, 0x64, 0x65, 0x6c];
const STREAM = [0x73, 0x74, 0x72, 0x65, 0x61, 0x6d];
const sameBytes = (a: number[], b: number[]) => a.length === b.length && a.every((byte, i) => byte === b[i]);

/** Which key the raw bytes of a top-level key spell: compared as bytes, decoded only when escaped. */
function keyOf(raw: number[]): 'model' | 'stream' | 'other' {
  if (sameBytes(raw, MODEL)) return 'model';
  if (sameBytes(raw, STREAM)) return 'stream';
  if (!raw.includes(BACKSLASH)) return 'other';
  const name = decodeString(raw);
  return name === 'model' ? 'model' : name === 'stream' ? 'stream' : 'other';
}

/** The bytes between a string's quotes as JSON decodes them; undefined when they are not valid JSON. */
function decodeString(bytes: number[]): string | undefined {
  // Model ids are short ASCII: no Buffer for those.
  const raw = bytes.every((b) => b < 0x80) ? String.fromCharCode(...bytes) : Buffer.from(bytes).toString('utf8');
  if (!raw.includes('\\') && !/[\u0000-\u001f]/.test(raw)) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return undefined;
  }
}

/** Keys and model ids are short: a plain loop beats a native call for them. */
function indexOfQuoteShort(chunk: Uint8Array, from: number): number {
  const n = chunk.length;
  for (let i = from; i < n; i++) if (chunk[i] === QUOTE) return i;
  return -1;
}
