/**
 * In-place edits of JSON-with-comments files (opencode.json/.jsonc, settings
 * files): change a few keys and leave every other byte alone — comments,
 * key order, indentation, line endings, trailing commas. Pure: text in, text
 * out; the caller reads and writes the file (atomically).
 */
import {
  applyEdits,
  findNodeAtLocation,
  modify,
  parseTree,
  parse,
  printParseErrorCode,
  type FormattingOptions,
  type JSONPath,
  type Node as JsonNode,
  type ParseError,
} from 'jsonc-parser';
import { UserError } from '../core/errors.js';

export interface JsoncFormat {
  insertSpaces: boolean;
  tabSize: number;
  eol: '\n' | '\r\n';
}

export interface JsoncObjectDocument {
  /** The parsed root object (comments dropped). */
  value: Record<string, unknown>;
  format: JsoncFormat;
  /** True when the file had nothing but whitespace (treated as `{}`). */
  empty: boolean;
}

const BOM = '\uFEFF';

/** 1-based line and column of a character offset, as editors show them. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

const describeError = (code: number) =>
  printParseErrorCode(code)
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();

/**
 * Parses a JSONC document whose root must be an object. Any syntax error is a
 * UserError naming the file, line and column, so the caller can refuse
 * before touching anything.
 */
export function parseJsoncObject(text: string, label: string): JsoncObjectDocument {
  const body = text.startsWith(BOM) ? text.slice(1) : text;
  const format = detectFormat(body);
  if (body.trim() === '') return { value: {}, format, empty: true };
  const errors: ParseError[] = [];
  const value: unknown = parse(body, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first) {
    const { line, column } = lineColumnAt(body, first.offset);
    throw new UserError(
      `${label} is not valid JSON: ${describeError(first.error)} at line ${line}, column ${column}. Nothing was changed.`,
      { hint: `Fix ${label} (or move it aside) and run again.` },
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UserError(`${label} must hold a JSON object at the top level. Nothing was changed.`);
  }
  return { value: value as Record<string, unknown>, format, empty: false };
}

/**
 * The file's own style, so that inserted keys look like the user's: tabs or
 * the smallest space indent used, and CRLF when the file already uses it.
 */
export function detectFormat(text: string): JsoncFormat {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  let insertSpaces = true;
  let tabSize = 0;
  for (const line of text.split(/\r?\n/)) {
    const match = /^([ \t]+)\S/.exec(line);
    if (!match) continue;
    const indent = match[1]!;
    if (indent.startsWith('\t')) {
      insertSpaces = false;
      tabSize = 1;
      break;
    }
    if (tabSize === 0 || indent.length < tabSize) tabSize = indent.length;
  }
  return { insertSpaces, tabSize: insertSpaces ? tabSize || 2 : 1, eol };
}

const formatting = (format: JsoncFormat): FormattingOptions => ({
  insertSpaces: format.insertSpaces,
  tabSize: format.tabSize,
  eol: format.eol,
});

const unit = (format: JsoncFormat) => (format.insertSpaces ? ' '.repeat(format.tabSize) : '\t');

/** Leading whitespace of the line holding `offset`. */
function lineIndent(body: string, offset: number): string {
  const lineStart = body.lastIndexOf('\n', offset - 1) + 1;
  return /^[ \t]*/.exec(body.slice(lineStart))![0];
}

/** `value` as JSON in the file's style, its continuation lines indented by `indent`. */
function render(value: unknown, indent: string, format: JsoncFormat): string {
  return JSON.stringify(value, null, unit(format)).split('\n').join(format.eol + indent);
}

/** jsonc-parser's own edit, used for the rare shapes the textual edits below leave alone. */
function viaModify(body: string, path: JSONPath, value: unknown, format: JsoncFormat): string {
  return applyEdits(body, modify(body, path, value, { formattingOptions: formatting(format) }));
}

const isMultiline = (body: string, node: JsonNode) => /\n/.test(body.slice(node.offset, node.offset + node.length));

/**
 * Sets (or, with `undefined`, removes) the value at `path`, creating parent
 * objects as needed. The edit is textual and local: a new property goes after
 * the last one in the object's own style (same-line or one per line, its
 * indent, its trailing-comma habit, after a comment ending that line); a
 * replaced value keeps its key and position. Nothing else is reformatted —
 * unlike jsonc-parser's formatter, which re-flows the neighbouring property.
 */
export function setJsoncValue(
  text: string,
  path: JSONPath,
  value: unknown,
  format: JsoncFormat,
  options: { first?: boolean } = {},
): string {
  const { body: raw, bom } = splitBom(text);
  if (value === undefined) return bom + removeAt(raw, path, format);
  const body = raw.trim() === '' ? `{}${format.eol}` : raw;
  return bom + setAt(body, path, value, format, options.first ?? false);
}

function setAt(body: string, path: JSONPath, value: unknown, format: JsoncFormat, first: boolean): string {
  const root = parseTree(body, [], { allowTrailingComma: true });
  if (!root) return viaModify(body, path, value, format);
  const existing = path.length === 0 ? root : findNodeAtLocation(root, path);
  if (existing) {
    // Replace the value in place, indented like the line it starts on.
    const indent = lineIndent(body, existing.offset);
    return body.slice(0, existing.offset) + render(value, indent, format) + body.slice(existing.offset + existing.length);
  }
  // Find the deepest existing object on the path and add what is missing under it.
  for (let depth = path.length - 1; depth >= 0; depth--) {
    const parentPath = path.slice(0, depth);
    const parent = depth === 0 ? root : findNodeAtLocation(root, parentPath);
    if (!parent) continue;
    const key = path[depth];
    if (parent.type !== 'object' || typeof key !== 'string') return viaModify(body, path, value, format);
    let nested: unknown = value;
    for (let i = path.length - 1; i > depth; i--) nested = { [path[i] as string]: nested };
    return insertProperty(body, parent, key, nested, format, first && depth === path.length - 1);
  }
  return viaModify(body, path, value, format);
}

function insertProperty(body: string, object: JsonNode, key: string, value: unknown, format: JsoncFormat, first = false): string {
  const props = object.children ?? [];
  const last = props[props.length - 1];
  const head = props[0];
  if (first && head) {
    // Before the first property (e.g. `$schema`, which editors expect on top), in its indent.
    if (!isMultiline(body, object)) {
      return body.slice(0, head.offset) + `${JSON.stringify(key)}: ${JSON.stringify(value)}, ` + body.slice(head.offset);
    }
    const indent = lineIndent(body, head.offset);
    const lineStart = body.lastIndexOf('\n', head.offset - 1) + 1;
    if (body.slice(lineStart, head.offset).trim() === '') {
      return body.slice(0, head.offset) + `${JSON.stringify(key)}: ${render(value, indent, format)},${format.eol}${indent}` + body.slice(head.offset);
    }
  }
  if (!last) {
    const inner = body.slice(object.offset + 1, object.offset + object.length - 1);
    if (inner.trim() !== '') return viaModify(body, [...pathOf(object), key], value, format); // comments inside
    const outer = lineIndent(body, object.offset);
    const indent = outer + unit(format);
    const content = `{${format.eol}${indent}${JSON.stringify(key)}: ${render(value, indent, format)}${format.eol}${outer}}`;
    return body.slice(0, object.offset) + content + body.slice(object.offset + object.length);
  }
  const lastEnd = last.offset + last.length;
  const property = (indent: string) => `${JSON.stringify(key)}: ${render(value, indent, format)}`;
  if (!isMultiline(body, object)) {
    // A one-line object (often a minified file) stays on one line.
    const compact = `${JSON.stringify(key)}: ${JSON.stringify(value)}`;
    const comma = trailingComma(body, lastEnd);
    if (comma !== undefined) return body.slice(0, comma) + ` ${compact},` + body.slice(comma);
    return body.slice(0, lastEnd) + `, ${compact}` + body.slice(lastEnd);
  }
  const indent = lineIndent(body, last.offset);
  const comma = trailingComma(body, lastEnd);
  if (comma !== undefined) {
    const at = endOfLine(body, comma);
    return body.slice(0, at) + `${format.eol}${indent}${property(indent)},` + body.slice(at);
  }
  const at = endOfLine(body, lastEnd);
  return body.slice(0, lastEnd) + ',' + body.slice(lastEnd, at) + `${format.eol}${indent}${property(indent)}` + body.slice(at);
}

/** Past spaces and a comment that end the line starting at `from`; `from` itself when code follows. */
function endOfLine(body: string, from: number): number {
  let i = from;
  while (body[i] === ' ' || body[i] === '\t') i++;
  if (body.startsWith('//', i)) {
    const nl = body.indexOf('\n', i);
    i = nl === -1 ? body.length : nl;
    if (body[i - 1] === '\r') i--;
    return i;
  }
  if (body.startsWith('/*', i)) {
    const close = body.indexOf('*/', i);
    const nl = body.indexOf('\n', i);
    if (close !== -1 && (nl === -1 || close < nl)) i = close + 2;
    while (body[i] === ' ' || body[i] === '\t') i++;
  }
  if (i >= body.length || body[i] === '\n' || body.startsWith('\r\n', i)) return i;
  return from;
}

function pathOf(node: JsonNode): JSONPath {
  const path: JSONPath = [];
  let current: JsonNode | undefined = node;
  while (current?.parent) {
    const parent: JsonNode = current.parent;
    if (parent.type === 'property') path.unshift(parent.children![0]!.value as string);
    else if (parent.type === 'array') path.unshift(parent.children!.indexOf(current));
    current = parent.type === 'property' ? parent.parent : parent;
  }
  return path;
}

function removeAt(body: string, path: JSONPath, format: JsoncFormat): string {
  if (body.trim() === '' || path.length === 0) return body;
  const root = parseTree(body, [], { allowTrailingComma: true });
  const valueNode = root && findNodeAtLocation(root, path);
  const prop = valueNode?.parent;
  if (!valueNode || !prop) return body;
  if (prop.type !== 'property' || !prop.parent) return viaModify(body, path, undefined, format);
  const siblings = prop.parent.children ?? [];
  const index = siblings.indexOf(prop);
  const end = prop.offset + prop.length;
  const previous = siblings[index - 1];
  const next = siblings[index + 1];
  if (previous) {
    const prevEnd = previous.offset + previous.length;
    const gap = body.slice(prevEnd, prop.offset);
    if (/^\s*,\s*$/.test(gap)) return body.slice(0, prevEnd) + body.slice(end);
    // `"a": 1, // note` then our line: drop the comma, keep the note.
    const noted = /^,([ \t]*(?:\/\/[^\r\n]*|\/\*[^\r\n]*?\*\/)[ \t]*)\r?\n[ \t]*$/.exec(gap);
    if (noted) return body.slice(0, prevEnd) + noted[1] + body.slice(end);
    return viaModify(body, path, undefined, format);
  }
  if (next) {
    const gap = body.slice(end, next.offset);
    if (/^\s*,\s*$/.test(gap)) return body.slice(0, prop.offset) + body.slice(next.offset);
    return viaModify(body, path, undefined, format);
  }
  // The only property: leave `{}` when nothing but whitespace and a comma was around it.
  const object = prop.parent;
  const before = body.slice(object.offset + 1, prop.offset);
  const after = body.slice(end, object.offset + object.length - 1);
  if (/^\s*$/.test(before) && /^\s*,?\s*$/.test(after)) {
    return body.slice(0, object.offset) + '{}' + body.slice(object.offset + object.length);
  }
  return viaModify(body, path, undefined, format);
}

/** Removes the value at `path`, keeping every other byte. */
export const removeJsoncValue = (text: string, path: JSONPath, format: JsoncFormat): string =>
  setJsoncValue(text, path, undefined, format);

const splitBom = (text: string) =>
  text.startsWith(BOM) ? { body: text.slice(1), bom: BOM } : { body: text, bom: '' };

/** Where a value ends, past a trailing comma if there is one (whitespace between allowed). */
function trailingComma(body: string, end: number): number | undefined {
  let i = end;
  while (i < body.length && /\s/.test(body[i]!)) i++;
  return body[i] === ',' ? i + 1 : undefined;
}

/**
 * Appends a value to the array at `path` in the array's own style: on the
 * same line for a one-line array, on a new line with the last item's indent
 * for a multi-line one, keeping a trailing comma if the user uses them.
 * Falls back to jsonc-parser when the array is missing.
 */
export function appendToJsoncArray(text: string, path: JSONPath, value: unknown, format: JsoncFormat): string {
  const { body, bom } = splitBom(text);
  const root = parseTree(body, [], { allowTrailingComma: true });
  const array = root && findNodeAtLocation(root, path);
  if (!array || array.type !== 'array') return setJsoncValue(text, path, [value], format);
  const items = array.children ?? [];
  const json = JSON.stringify(value);
  const last = items[items.length - 1];
  if (!last) {
    const inner = body.slice(array.offset + 1, array.offset + array.length - 1);
    if (inner.trim() !== '') return setJsoncValue(text, [...path, 0], value, format); // only comments inside
    return bom + body.slice(0, array.offset) + `[${json}]` + body.slice(array.offset + array.length);
  }
  const lastEnd = last.offset + last.length;
  const arrayText = body.slice(array.offset, array.offset + array.length);
  const multiline = /\r?\n/.test(arrayText);
  const lineStart = body.lastIndexOf('\n', last.offset) + 1;
  const indent = /^[ \t]*/.exec(body.slice(lineStart))![0];
  const comma = trailingComma(body, lastEnd);
  let at: number;
  let insert: string;
  if (comma !== undefined) {
    at = comma;
    insert = multiline ? `${format.eol}${indent}${json},` : ` ${json},`;
  } else {
    at = lastEnd;
    insert = multiline ? `,${format.eol}${indent}${json}` : `, ${json}`;
  }
  return bom + body.slice(0, at) + insert + body.slice(at);
}

/**
 * Removes the item at `index` of the array at `path`, undoing
 * appendToJsoncArray exactly: the text from the end of the item before it to
 * its own end goes, so the neighbour keeps its comma style.
 */
export function removeJsoncArrayItem(text: string, path: JSONPath, index: number, format: JsoncFormat): string {
  const { body, bom } = splitBom(text);
  const root = parseTree(body, [], { allowTrailingComma: true });
  const array = root && findNodeAtLocation(root, path);
  const items = array?.type === 'array' ? (array.children ?? []) : [];
  const item = items[index];
  if (!item) return text;
  const previous = items[index - 1];
  if (previous) {
    const from = previous.offset + previous.length;
    return bom + body.slice(0, from) + body.slice(item.offset + item.length) ;
  }
  if (items.length === 1) {
    // The only item: leave the array as `[]` only when that is all that was inside.
    const inner = body.slice(array!.offset + 1, array!.offset + array!.length - 1);
    if (inner.trim() === JSON.stringify(item.value) || inner.trim() === `${JSON.stringify(item.value)},`) {
      return bom + body.slice(0, array!.offset) + '[]' + body.slice(array!.offset + array!.length);
    }
  }
  return setJsoncValue(text, [...path, index], undefined, format);
}

/** Parses without throwing (for a value we just produced ourselves). */
export function parseJsoncLoose(text: string): unknown {
  const body = text.startsWith(BOM) ? text.slice(1) : text;
  return parse(body, [], { allowTrailingComma: true, disallowComments: false });
}
