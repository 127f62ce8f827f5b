/**
 * The `# >>> thirdloop >>>` … `# <<< thirdloop <<<` block in a user's file
 * (the conda/rustup pattern). Pure: text in, text out. The text may be a
 * byte view of the file (files/byte-text: one character per byte), so a
 * UTF-8 BOM is recognised both as U+FEFF and as its three bytes.
 *
 * Two ways to place a block:
 * - placeBlock/takeBlock, for files a program executes (shell profiles):
 *   the block's lines end with the line ending the program needs (LF for
 *   the POSIX shells and fish: a CR left before the LF would make `fi\r`),
 *   whatever the rest of the file uses, and the block always ends with one,
 *   so a later `echo … >> file` starts a line of its own. A file that did
 *   not end with a newline gets one before the block, and the caller keeps
 *   that `separator` so undo gives back the exact bytes.
 * - upsertBlock/removeBlock, for text files read by people (AGENTS.md):
 *   our lines follow the file's line ending, and a file without a final
 *   newline stays without one, which makes removeBlock an exact inverse
 *   without any record.
 */

export const BLOCK_START = '# >>> thirdloop >>>';
export const BLOCK_END = '# <<< thirdloop <<<';

export type Eol = '\n' | '\r\n';

export interface Markers {
  start: string;
  end: string;
}

export const THIRDLOOP_MARKERS: Markers = { start: BLOCK_START, end: BLOCK_END };

export interface BlockLocation {
  /** Offset of the first character of the start marker line. */
  start: number;
  /** Offset just past the end marker (before its line ending, if any). */
  end: number;
  /** Offset just past the end marker's line ending (= `end` at end of file). */
  endWithEol: number;
  /** 1-based line numbers of the marker lines. */
  startLine: number;
  endLine: number;
}

export class MarkedBlockError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'MarkedBlockError';
  }
}

/** The line ending a file uses: CRLF when most of its line endings are CRLF. */
export function detectEol(text: string, fallback: Eol = '\n'): Eol {
  let crlf = 0;
  let lf = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) {
    if (i > 0 && text[i - 1] === '\r') crlf++;
    else lf++;
  }
  if (crlf === 0 && lf === 0) return fallback;
  return crlf > lf ? '\r\n' : '\n';
}

interface Line {
  /** Offset of the line's first character. */
  start: number;
  /** Offset just past the content (before \r\n or \n). */
  contentEnd: number;
  /** Offset just past the line ending. */
  end: number;
  text: string;
}

function* lines(text: string): Generator<Line> {
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    const end = nl === -1 ? text.length : nl + 1;
    let contentEnd = nl === -1 ? text.length : nl;
    if (contentEnd > start && text[contentEnd - 1] === '\r') contentEnd--;
    yield { start, contentEnd, end, text: text.slice(start, contentEnd) };
    start = end;
  }
}

const UTF8_BOM_VIEW = '\u00ef\u00bb\u00bf';
/** Length of a BOM at the start of `text`: U+FEFF, or the UTF-8 BOM's bytes in a byte view. */
const bomLength = (text: string) => (text.charCodeAt(0) === 0xfeff ? 1 : text.startsWith(UTF8_BOM_VIEW) ? 3 : 0);
const stripBom = (line: string) => line.slice(bomLength(line));
const isMarker = (line: string, marker: string) => stripBom(line).trim() === marker;

/**
 * Every block in the file, in order. A start without an end (or an end
 * without a start) is an error: guessing where a hand-edited block stops
 * could delete the user's lines.
 */
export function findBlocks(text: string, markers: Markers = THIRDLOOP_MARKERS): BlockLocation[] {
  const found: BlockLocation[] = [];
  let open: { start: number; line: number } | undefined;
  let lineNo = 0;
  for (const line of lines(text)) {
    lineNo++;
    if (isMarker(line.text, markers.start)) {
      if (open) throw new MarkedBlockError(`"${markers.start}" on line ${lineNo} opens a block inside another one (line ${open.line}).`, lineNo);
      // A BOM before the marker belongs to the file, not to the block.
      const bom = line.start === 0 ? bomLength(line.text) : 0;
      open = { start: line.start + bom, line: lineNo };
    } else if (isMarker(line.text, markers.end)) {
      if (!open) throw new MarkedBlockError(`"${markers.end}" on line ${lineNo} has no "${markers.start}" before it.`, lineNo);
      found.push({ start: open.start, end: line.contentEnd, endWithEol: line.end, startLine: open.line, endLine: lineNo });
      open = undefined;
    }
  }
  if (open) throw new MarkedBlockError(`"${markers.start}" on line ${open.line} has no "${markers.end}" after it.`, open.line);
  return found;
}

export function findBlock(text: string, markers: Markers = THIRDLOOP_MARKERS): BlockLocation | undefined {
  return findBlocks(text, markers)[0];
}

export const hasBlock = (text: string, markers: Markers = THIRDLOOP_MARKERS) => findBlocks(text, markers).length > 0;

/** The block's text (markers included, no final line ending) in the file's line ending. */
export function renderBlock(body: readonly string[], eol: Eol, markers: Markers = THIRDLOOP_MARKERS): string {
  for (const line of body) {
    if (/[\r\n]/.test(line)) throw new Error('block lines must not contain line breaks');
    if (isMarker(line, markers.start) || isMarker(line, markers.end)) throw new Error('block lines must not contain the markers');
  }
  return [markers.start, ...body, markers.end].join(eol);
}

export interface UpsertOptions {
  markers?: Markers;
  /** Line ending for a file that has none yet (empty or one line). */
  defaultEol?: Eol;
}

/**
 * Adds the block at the end of the file, or replaces the existing one in
 * place (a second, duplicate block is removed). Returns the new text.
 */
export function upsertBlock(text: string, body: readonly string[], options: UpsertOptions = {}): string {
  const markers = options.markers ?? THIRDLOOP_MARKERS;
  const eol = detectEol(text, options.defaultEol ?? '\n');
  const block = renderBlock(body, eol, markers);
  const blocks = findBlocks(text, markers);

  if (blocks.length > 0) {
    // Replace the first block's lines; its surroundings (including whether
    // a newline follows it) stay exactly as they were.
    const first = blocks[0]!;
    let result = text.slice(0, first.start) + block + text.slice(first.end);
    const shift = block.length - (first.end - first.start);
    for (const extra of blocks.slice(1).reverse()) {
      result = removeAt(result, { ...extra, start: extra.start + shift, end: extra.end + shift, endWithEol: extra.endWithEol + shift });
    }
    return result;
  }

  const bom = text.slice(0, bomLength(text));
  const body0 = text.slice(bom.length);
  if (body0.length === 0) return bom + block + eol;
  if (body0.endsWith('\n')) return text + block + eol;
  // No final newline: keep it that way (see the header comment).
  return text + eol + block;
}

function removeAt(text: string, block: BlockLocation): string {
  const atEnd = block.endWithEol === block.end && block.end === text.length;
  if (atEnd && block.start > 0) {
    // The block ends the file without a newline: we added the line ending
    // in front of it, so take that back too.
    let from = block.start;
    if (text[from - 1] === '\n') from--;
    if (from > 0 && text[from - 1] === '\r' && text[from] === '\n') from--;
    return text.slice(0, from);
  }
  return text.slice(0, block.start) + text.slice(block.endWithEol);
}

/** Removes every block; text without one comes back unchanged. */
export function removeBlock(text: string, markers: Markers = THIRDLOOP_MARKERS): string {
  let result = text;
  for (const block of findBlocks(text, markers).reverse()) result = removeAt(result, block);
  return result;
}

/** The lines of the file outside our block, with their 1-based numbers. */
export function linesOutsideBlocks(text: string, markers: Markers = THIRDLOOP_MARKERS): Array<{ line: number; text: string }> {
  const blocks = findBlocks(text, markers);
  const out: Array<{ line: number; text: string }> = [];
  let lineNo = 0;
  for (const line of lines(text)) {
    lineNo++;
    if (blocks.some((b) => lineNo >= b.startLine && lineNo <= b.endLine)) continue;
    out.push({ line: lineNo, text: lineNo === 1 ? stripBom(line.text) : line.text });
  }
  return out;
}

export interface Placed {
  text: string;
  /**
   * The line ending put before the block because the file did not end with
   * one (or, for a block an older version left at the very end without a
   * final newline, the one it had put there): undo removes it too.
   */
  separator?: Eol;
}

export interface PlaceOptions {
  markers?: Markers;
  /** The block's own line ending; LF unless the reading program wants the file's. */
  eol?: Eol;
}

/**
 * Adds the block at the end of a file a program executes, or replaces the
 * existing one in place (a second, duplicate block is removed). The block
 * ends with a line ending.
 */
export function placeBlock(text: string, body: readonly string[], options: PlaceOptions = {}): Placed {
  const markers = options.markers ?? THIRDLOOP_MARKERS;
  const eol = options.eol ?? '\n';
  const block = renderBlock(body, eol, markers) + eol;
  const blocks = findBlocks(text, markers);

  if (blocks.length > 0) {
    const first = blocks[0]!;
    // An older block that ended the file without a newline had a line ending put before it.
    const legacyEnd = first.end === first.endWithEol && first.end === text.length && first.start > 0;
    const separator = legacyEnd ? (text.slice(first.start - 2, first.start) === '\r\n' ? '\r\n' : text[first.start - 1] === '\n' ? '\n' : undefined) : undefined;
    let result = text.slice(0, first.start) + block + text.slice(first.endWithEol);
    const shift = block.length - (first.endWithEol - first.start);
    for (const extra of blocks.slice(1).reverse()) {
      result = result.slice(0, extra.start + shift) + result.slice(extra.endWithEol + shift);
    }
    return separator ? { text: result, separator } : { text: result };
  }

  const bom = text.slice(0, bomLength(text));
  if (text.length === bom.length || text.endsWith('\n')) return { text: text + block };
  return { text: text + eol + block, separator: eol };
}

/**
 * Removes every block placeBlock put in, and the separator it put before a
 * block that still ends the file. Text without a block comes back unchanged.
 */
export function takeBlock(text: string, options: { markers?: Markers; separator?: Eol } = {}): string {
  const markers = options.markers ?? THIRDLOOP_MARKERS;
  let result = text;
  const blocks = findBlocks(text, markers);
  for (const block of blocks.reverse()) {
    // Only the last block can end the file (earlier ones are followed by it).
    const atEnd = block.endWithEol === text.length;
    if (atEnd && block.end === block.endWithEol && block.start > 0) {
      result = removeAt(result, block); // an older block without a final newline
      continue;
    }
    const sep = options.separator;
    if (atEnd && sep && block.start >= sep.length && result.slice(block.start - sep.length, block.start) === sep) {
      result = result.slice(0, block.start - sep.length);
      continue;
    }
    result = result.slice(0, block.start) + result.slice(block.endWithEol);
  }
  return result;
}
