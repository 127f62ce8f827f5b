/**
 * Key names: 1–64 printable characters after trimming, none of them an
 * invisible Unicode format character. Each side words its
 * own sentence for a problem (the server's 400, the CLI's usage error); the
 * rule itself is only here, so tightening it is a change to this file.
 */

export const NAME_MAX_LENGTH = 64;

/**
 * Characters a name may not contain: C0 controls, DEL, C1 controls, and the
 * line and paragraph separators. No flags, so `.test` keeps no state.
 */
export const NAME_FORBIDDEN_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Unicode format characters (general category Cf): bidirectional overrides and
 * isolates (U+202E turns "invoice\u202Egnp.exe" into "invoiceexe.png" on screen),
 * zero-width characters, the soft hyphen, the BOM. Invisible, or reordering what
 * people read, so refused in names (and in other text a page shows, such as the
 * consent page's machine). No `g` flag, so `.test` keeps no state.
 */
export const FORMAT_CHARACTERS = /\p{Cf}/u;

export type NameProblem = 'not_text' | 'empty' | 'too_long' | 'not_printable' | 'format_character';

export type NameCheck =
  | { ok: true; name: string }
  /** `length` is the trimmed name's length in characters (code points). */
  | { ok: false; problem: NameProblem; length: number };

/** Lengths count characters as people do (an emoji is one), not UTF-16 units. */
export const nameLength = (name: string): number => [...name].length;

/** Trims, then checks the rule; `name` is what gets stored. */
export function checkKeyName(raw: unknown): NameCheck {
  if (typeof raw !== 'string') return { ok: false, problem: 'not_text', length: 0 };
  const name = raw.trim();
  const length = nameLength(name);
  if (length === 0) return { ok: false, problem: 'empty', length };
  if (length > NAME_MAX_LENGTH) return { ok: false, problem: 'too_long', length };
  if (NAME_FORBIDDEN_CHARACTERS.test(name)) return { ok: false, problem: 'not_printable', length };
  if (FORMAT_CHARACTERS.test(name)) return { ok: false, problem: 'format_character', length };
  return { ok: true, name };
}
