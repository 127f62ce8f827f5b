/**
 * The one-time code of the headless sign-in (`thirdloop auth --no-browser`):
 * typed by a person, possibly from another device, so it is short and hard to
 * misread, as the OAuth device flow's user codes are: 8 characters from 27
 * symbols with no look-alikes (no 0/O, 1/I/L, no vowels, so no words), shown
 * as XXXX-XXXX; accepted in any case, with or without the dash or spaces.
 * About 38 bits: enough with PKCE, a 5-minute life, single use and a few tries
 * per pending sign-in. Pure: the randomness comes in.
 */
export const CODE_ALPHABET = '23456789BCDFGHJKMNPQRSTVWXZ';
export const CODE_LENGTH = 8;
/** Wrong codes one pending sign-in survives; the next wrong one ends it. */
export const CODE_ATTEMPTS = 5;

/** A fresh code, as stored and compared: 8 symbols, no dash. */
export function makeUserCode(randomIndex: (n: number) => number): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) code += CODE_ALPHABET[randomIndex(CODE_ALPHABET.length)];
  return code;
}

/** How the page shows it: `XXXX-XXXX`. */
export function displayUserCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/**
 * What a person typed, as stored: upper case, without dashes and spaces, when
 * it has the shape of a user code; anything else (the loopback flow's long
 * codes) is left exactly as sent.
 */
export function normalizeCode(typed: string): string {
  const compact = typed.trim().toUpperCase().replace(/[\s-]/g, '');
  return compact.length === CODE_LENGTH && [...compact].every((ch) => CODE_ALPHABET.includes(ch)) ? compact : typed.trim();
}
