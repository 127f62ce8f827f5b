// The floor for `thirdloop token` with the secret in the keychain: the keychain binding loaded and the
// item read (service "thirdloop", account = the profile in argv), the secret printed, nothing else.
import { createRequire } from 'node:module';

const { AsyncEntry } = createRequire(import.meta.url)('@napi-rs/keyring');
const secret = await new AsyncEntry('thirdloop', process.argv[2] ?? 'default', { linux: { store: 'secret-service' } }).getPassword();
process.stdout.write(`${secret}\n`);
process.exit(secret ? 0 : 1);
