/**
 * A JSON parser fed one chunk at a time, for the offline model (the only part of the gateway that
 * needs a whole request as a value). Each chunk is parsed as it arrives, so a 10 MiB body is spread
 * over the ~160 reads it arrives in instead of one `JSON.parse` holding the event loop; no
 * recursion, and nesting deeper than `maxDepth` is refused rather than walked.
 *
 * Strict like `JSON.parse`: same values, same refusals (the text is decoded per string, so invalid
 * UTF-8 becomes U+FFFD as `Buffer#toString` makes it).
 */

export class JsonStreamError extends Error {
  constructor(
    readonly kind: 'invalid' | 'too-deep',
    message: string,
  ) {
    super(message);
    this.name = 'JsonStreamError';
  }
}

type Container = Record<string, unknown> | unknown[];

/**
 * Sees each value as it completes inside a container: `depth` 1 for the root's own fields, `key`
 * its key (undefined for array elements), `rootKey` the root field it is under. Returning false
 * drops it, so a caller that only needs a summary never holds the whole document.
 */
export type ValueWatcher = (value: unknown, depth: number, key: string | undefined, rootKey: string | undefined) => boolean;

interface Frame {
  container: Container;
  /** The key whose value comes next (objects only). */
  key: string | undefined;
}

const enum S {
  /** A value is expected (at the top, after `:` or `,` in an array, or first in an array). */
  Value,
  /** First in an array: a value or `]`. */
  ValueOrClose,
  /** First in an object: a key or `}`. */
  KeyOrClose,
  Key,
  Colon,
  /** After a value inside a container: `,` or the closing bracket. */
  Next,
  InString,
  /** A number or a literal: its characters until a delimiter. */
  InWord,
  Done,
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const NEEDS_DECODING = /[\\\u0000-\u001f]/;

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

export class JsonStreamParser {
  private state = S.Value;
  private readonly stack: Frame[] = [];
  private root: unknown;
  /** The current string's bytes (pieces from several chunks) and whether it is a key. */
  private pieces: Buffer[] = [];
  private stringIsKey = false;
  private escaped = false;
  private word = '';

  constructor(
    private readonly maxDepth: number,
    private readonly watch?: ValueWatcher,
  ) {}

  push(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.state === S.InString) {
        i = this.readString(chunk, i);
        continue;
      }
      const c = chunk[i]!;
      if (this.state === S.InWord) {
        if (isSpace(c) || c === 0x2c || c === 0x5d || c === 0x7d) {
          this.endWord();
          continue; // the delimiter is read in the new state
        }
        this.word += String.fromCharCode(c);
        if (this.word.length > 400) throw invalid();
        i++;
        continue;
      }
      i++;
      if (isSpace(c)) continue;
      this.structural(c);
    }
  }

  /** The whole value, once the body has ended. */
  end(): unknown {
    if (this.state === S.InWord) this.endWord();
    if (this.state !== S.Done) throw invalid();
    return this.root;
  }

  private structural(c: number): void {
    switch (this.state) {
      case S.Value:
      case S.ValueOrClose:
        if (c === 0x5d && this.state === S.ValueOrClose) return this.close();
        if (c === 0x7b) return this.open({});
        if (c === 0x5b) return this.open([]);
        if (c === 0x22) return this.startString(false);
        if (c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e) {
          this.state = S.InWord;
          this.word = String.fromCharCode(c);
          return;
        }
        throw invalid();
      case S.KeyOrClose:
      case S.Key:
        if (c === 0x22) return this.startString(true);
        if (c === 0x7d && this.state === S.KeyOrClose) return this.close();
        throw invalid();
      case S.Colon:
        if (c !== 0x3a) throw invalid();
        this.state = S.Value;
        return;
      case S.Next: {
        const frame = this.stack[this.stack.length - 1]!;
        const isArray = Array.isArray(frame.container);
        if (c === 0x2c) {
          this.state = isArray ? S.Value : S.Key;
          return;
        }
        if (c === (isArray ? 0x5d : 0x7d)) return this.close();
        throw invalid();
      }
      default:
        throw invalid();
    }
  }

  private open(container: Container): void {
    if (this.stack.length >= this.maxDepth) {
      throw new JsonStreamError('too-deep', `The request body is nested more than ${this.maxDepth} levels deep.`);
    }
    this.stack.push({ container, key: undefined });
    this.state = Array.isArray(container) ? S.ValueOrClose : S.KeyOrClose;
  }

  private close(): void {
    const frame = this.stack.pop()!;
    this.value(frame.container);
  }

  /** A complete value: into its container, or the root. */
  private value(v: unknown): void {
    const frame = this.stack[this.stack.length - 1];
    if (!frame) {
      this.root = v;
      this.state = S.Done;
      return;
    }
    this.state = S.Next;
    if (this.watch && !this.watch(v, this.stack.length, frame.key, this.stack[0]!.key)) return;
    if (Array.isArray(frame.container)) frame.container.push(v);
    else if (frame.key === '__proto__') {
      // An own property, as JSON.parse makes it, never the prototype.
      Object.defineProperty(frame.container, frame.key, { value: v, enumerable: true, writable: true, configurable: true });
    } else frame.container[frame.key!] = v;
  }

  private startString(isKey: boolean): void {
    this.state = S.InString;
    this.stringIsKey = isKey;
    this.escaped = false;
  }

  private readString(chunk: Buffer, i: number): number {
    const from = i;
    if (this.escaped) {
      this.escaped = false;
      i++;
    }
    const runFrom = i;
    for (;;) {
      const q = chunk.indexOf(0x22, i);
      if (q === -1) {
        let run = 0;
        for (let j = chunk.length - 1; j >= runFrom && chunk[j] === 0x5c; j--) run++;
        this.escaped = run % 2 === 1;
        this.pieces.push(chunk.subarray(from));
        return chunk.length;
      }
      let run = 0;
      for (let j = q - 1; j >= runFrom && chunk[j] === 0x5c; j--) run++;
      if (run % 2 === 1) {
        i = q + 1;
        continue;
      }
      if (this.pieces.length === 0) {
        // The common case: the whole string is in this chunk, decoded straight from it.
        this.endString(chunk.toString('utf8', from, q));
      } else {
        this.pieces.push(chunk.subarray(from, q));
        const raw = Buffer.concat(this.pieces).toString('utf8');
        this.pieces = [];
        this.endString(raw);
      }
      return q + 1;
    }
  }

  private endString(raw: string): void {
    let text = raw;
    if (NEEDS_DECODING.test(raw)) {
      try {
        text = JSON.parse(`"${raw}"`) as string;
      } catch {
        throw invalid();
      }
    }
    if (this.stringIsKey) {
      this.stack[this.stack.length - 1]!.key = text;
      this.state = S.Colon;
    } else this.value(text);
  }

  private endWord(): void {
    const word = this.word;
    this.word = '';
    if (word === 'true') this.value(true);
    else if (word === 'false') this.value(false);
    else if (word === 'null') this.value(null);
    else if (NUMBER.test(word)) this.value(Number(word));
    else throw invalid();
  }
}

function invalid(): JsonStreamError {
  return new JsonStreamError('invalid', 'The request body is not valid JSON.');
}
