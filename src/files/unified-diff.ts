/**
 * A unified diff (as `diff -u` / `git diff` print it) of two texts, for
 * `--dry-run`. Pure. Lines are compared with their line endings, so a change
 * from LF to CRLF shows; a missing final newline gets the usual
 * "\ No newline at end of file" line.
 */

export interface DiffOptions {
  /** Label of the old file; "/dev/null" when it does not exist. */
  oldLabel: string;
  newLabel: string;
  /** Lines of context around each change (default 3). */
  context?: number;
}

type Op = { kind: ' ' | '-' | '+'; line: string };

/** Splits keeping each line's ending, so "a\nb" → ["a\n", "b"]. */
export function splitLines(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    const end = nl === -1 ? text.length : nl + 1;
    out.push(text.slice(start, end));
    start = end;
  }
  return out;
}

/** Longest common subsequence on the part that differs (common ends trimmed first). */
function diffLines(a: string[], b: string[]): Op[] {
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (
    suffix < a.length - prefix &&
    suffix < b.length - prefix &&
    a[a.length - 1 - suffix] === b[b.length - 1 - suffix]
  )
    suffix++;

  const ops: Op[] = a.slice(0, prefix).map((line) => ({ kind: ' ', line }));
  const am = a.slice(prefix, a.length - suffix);
  const bm = b.slice(prefix, b.length - suffix);
  const n = am.length;
  const m = bm.length;

  if (n * m > 4_000_000) {
    // Too big for the table: show it as replaced wholesale (still a valid diff).
    for (const line of am) ops.push({ kind: '-', line });
    for (const line of bm) ops.push({ kind: '+', line });
  } else {
    // lcs[i][j] = LCS length of am[i..] and bm[j..]
    const width = m + 1;
    const lcs = new Uint32Array((n + 1) * width);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * width + j] =
          am[i] === bm[j] ? lcs[(i + 1) * width + j + 1]! + 1 : Math.max(lcs[(i + 1) * width + j]!, lcs[i * width + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && am[i] === bm[j]) {
        ops.push({ kind: ' ', line: am[i]! });
        i++;
        j++;
      } else if (i < n && (j === m || lcs[(i + 1) * width + j]! >= lcs[i * width + j + 1]!)) {
        // Deletions before insertions, as diff -u prints them.
        ops.push({ kind: '-', line: am[i]! });
        i++;
      } else {
        ops.push({ kind: '+', line: bm[j]! });
        j++;
      }
    }
  }
  for (const line of a.slice(a.length - suffix)) ops.push({ kind: ' ', line });
  return ops;
}

function formatLine(op: Op): string {
  const bare = op.line.endsWith('\r\n') ? op.line.slice(0, -2) + '\r' : op.line.endsWith('\n') ? op.line.slice(0, -1) : op.line;
  const out = `${op.kind}${bare}\n`;
  return op.line.endsWith('\n') ? out : `${out}\\ No newline at end of file\n`;
}

/** The diff as text; "" when the texts are equal. `undefined` means the file does not exist. */
export function unifiedDiff(oldText: string | undefined, newText: string | undefined, options: DiffOptions): string {
  if (oldText === newText) return '';
  const context = options.context ?? 3;
  const ops = diffLines(splitLines(oldText ?? ''), splitLines(newText ?? ''));

  // Group changes that are within 2×context lines of each other into hunks.
  const changed = ops.map((op, index) => (op.kind === ' ' ? -1 : index)).filter((index) => index >= 0);
  if (changed.length === 0) return '';
  const hunks: Array<[number, number]> = [];
  for (const index of changed) {
    const last = hunks[hunks.length - 1];
    if (last && index - last[1] <= 2 * context + 1) last[1] = index;
    else hunks.push([index, index]);
  }

  let out = `--- ${oldText === undefined ? '/dev/null' : options.oldLabel}\n+++ ${newText === undefined ? '/dev/null' : options.newLabel}\n`;
  // Line numbers of each op's position in the old and new file.
  const oldAt: number[] = [];
  const newAt: number[] = [];
  let o = 0;
  let n = 0;
  for (const op of ops) {
    oldAt.push(o);
    newAt.push(n);
    if (op.kind !== '+') o++;
    if (op.kind !== '-') n++;
  }
  for (const [first, last] of hunks) {
    const from = Math.max(0, first - context);
    const to = Math.min(ops.length - 1, last + context);
    const slice = ops.slice(from, to + 1);
    const oldCount = slice.filter((op) => op.kind !== '+').length;
    const newCount = slice.filter((op) => op.kind !== '-').length;
    // diff -u numbers an empty range by the line before it.
    const oldStart = oldCount === 0 ? oldAt[from]! : oldAt[from]! + 1;
    const newStart = newCount === 0 ? newAt[from]! : newAt[from]! + 1;
    out += `@@ -${oldStart}${oldCount === 1 ? '' : `,${oldCount}`} +${newStart}${newCount === 1 ? '' : `,${newCount}`} @@\n`;
    for (const op of slice) out += formatLine(op);
  }
  return out;
}
