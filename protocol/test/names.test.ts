/** Key names: 1–64 printable characters after trimming, counted as people count them. */
import { describe, expect, test } from 'vitest';
import { NAME_MAX_LENGTH, checkKeyName, nameLength } from 'thirdloop-protocol';

describe('checkKeyName', () => {
  test.each([
    ['laptop', 'laptop'],
    ['  padded  ', 'padded'],
    ['x'.repeat(64), 'x'.repeat(64)],
    ['ünïcødé ✓', 'ünïcødé ✓'],
    ['😀'.repeat(64), '😀'.repeat(64)],
    ['work laptop (2026)', 'work laptop (2026)'],
    // Right-to-left text is text; only the invisible controls are refused.
    ['מחשב נייד', 'מחשב נייד'],
    // Trimming takes line separators at the ends, as it takes spaces; inside a name they are refused.
    ['sep\u2028', 'sep'],
  ])('accepts %j as %j', (raw, name) => {
    expect(checkKeyName(raw)).toEqual({ ok: true, name });
  });

  test.each([
    [42, 'not_text'],
    [undefined, 'not_text'],
    ['', 'empty'],
    ['   ', 'empty'],
    ['x'.repeat(65), 'too_long'],
    ['😀'.repeat(65), 'too_long'],
    ['tab\there', 'not_printable'],
    ['new\nline', 'not_printable'],
    ['bell\u0007', 'not_printable'],
    ['del\u007f', 'not_printable'],
    ['c1\u0085', 'not_printable'],
    ['para\u2029graph', 'not_printable'],
    ['invoice\u202Egnp.exe', 'format_character'],
    ['\u2066isolate\u2069', 'format_character'],
    ['zero\u200Bwidth', 'format_character'],
    ['joined\u200Dtext', 'format_character'],
    ['soft\u00ADhyphen', 'format_character'],
    ['bom\uFEFFinside', 'format_character'],
  ])('refuses %j: %s', (raw, problem) => {
    const check = checkKeyName(raw);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.problem).toBe(problem);
  });

  test('the length is reported in characters, for the sentence', () => {
    expect(checkKeyName('😀'.repeat(70))).toEqual({ ok: false, problem: 'too_long', length: 70 });
    expect(nameLength('😀')).toBe(1);
    expect(NAME_MAX_LENGTH).toBe(64);
  });
});
