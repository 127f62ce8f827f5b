/**
 * `<id>` in `thirdloop keys <verb> <id>`: an exact key ID, a unique name, or
 * a unique ID prefix (`tlk_ab12`). The shape is checked before any request;
 * the match is made against the caller's key list.
 */
import type { ApiKey } from './api.js';
import { KEY_ID_PREFIX, KEY_ID_RANDOM_LENGTH, NAME_FORBIDDEN_CHARACTERS, NAME_MAX_LENGTH, STATUS_LABEL, nameLength } from 'thirdloop-protocol';
import { ExitCode, UserError, usageError } from './errors.js';

const ID_BODY_LENGTH = KEY_ID_RANDOM_LENGTH;
const ID_PREFIX_SHAPE = new RegExp(`^${KEY_ID_PREFIX}[0-9A-Za-z]{0,${ID_BODY_LENGTH}}$`);

/** Checks a key reference locally; returns it trimmed. Exit 2 when it cannot be one. */
export function checkKeyRef(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw usageError('Give the key to act on: its ID, a unique ID prefix or its name.', 'See them with `thirdloop keys list`.');
  }
  const ref = raw.trim();
  if (ref.startsWith(KEY_ID_PREFIX) && !ID_PREFIX_SHAPE.test(ref)) {
    throw usageError(
      `"${ref}" is not a key ID: IDs are ${KEY_ID_PREFIX} followed by ${ID_BODY_LENGTH} letters and digits.`,
      'See your keys and their IDs with `thirdloop keys list`.',
    );
  }
  if (nameLength(ref) > NAME_MAX_LENGTH || NAME_FORBIDDEN_CHARACTERS.test(ref)) {
    throw usageError(`That is neither a key ID nor a key name (names are 1–${NAME_MAX_LENGTH} printable characters).`, 'See your keys with `thirdloop keys list`.');
  }
  return ref;
}

function ambiguous(ref: string, candidates: ApiKey[], how: string): UserError {
  const width = Math.max(...candidates.map((k) => k.id.length));
  const lines = candidates.map((k) => `  ${k.id.padEnd(width)}  ${k.name}  (${STATUS_LABEL[k.status] ?? k.status})`);
  return new UserError(`"${ref}" ${how} ${candidates.length} keys:\n${lines.join('\n')}`, {
    exitCode: ExitCode.usage,
    hint: 'Give the key ID (or a longer ID prefix) instead.',
  });
}

/** Finds the one key `ref` means; throws a sentence when none or several match. */
export function resolveKey(keys: readonly ApiKey[], rawRef: string): ApiKey {
  const ref = rawRef.trim();
  const byId = keys.find((k) => k.id === ref);
  if (byId) return byId;

  const byName = keys.filter((k) => k.name === ref);
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) throw ambiguous(ref, byName, 'is the name of');

  if (ref.startsWith(KEY_ID_PREFIX)) {
    const byPrefix = keys.filter((k) => k.id.startsWith(ref));
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) throw ambiguous(ref, byPrefix, 'is the start of');
  }

  const folded = ref.toLowerCase();
  const byNameFolded = keys.filter((k) => k.name.toLowerCase() === folded);
  if (byNameFolded.length === 1) return byNameFolded[0]!;
  if (byNameFolded.length > 1) throw ambiguous(ref, byNameFolded, 'matches the names of');

  // Names are matched whole; a name that starts with what was typed is worth a suggestion.
  const near = keys.filter((k) => k.name.toLowerCase().startsWith(folded) || k.name.toLowerCase().includes(folded)).slice(0, 3);
  const suggestion = near.length ? `Did you mean ${near.map((k) => `"${k.name}" (${k.id})`).join(' or ')}? ` : '';
  throw new UserError(`No key of yours matches "${ref}" (by ID, ID prefix or name).`, {
    exitCode: ExitCode.failure,
    hint: keys.length ? `${suggestion}See your keys with \`thirdloop keys list\`.` : 'You have no keys; create one with `thirdloop keys create`.',
  });
}
