// Test-only preload (`node --import`): appends every module URL the process resolves to the file
// named by TEST_RECORD_IMPORTS, so a test can say which modules a command loaded.
import { register } from 'node:module';

register('./record-imports-hooks.mjs', import.meta.url);
