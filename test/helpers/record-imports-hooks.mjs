// Module hooks for record-imports.mjs (they run on the loader's own thread).
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (process.env.TEST_RECORD_IMPORTS) appendFileSync(process.env.TEST_RECORD_IMPORTS, `${result.url}\n`);
  return result;
}
