// The baseline for `thirdloop keys list --json`: the same authenticated GET /api/keys with undici,
// printing the JSON. The URL comes from argv, the credential from the environment (never argv).
import { request } from 'undici';

const url = `${process.argv[2]}/api/keys`;
const res = await request(url, {
  headers: { authorization: `Bearer ${process.env.BENCH_CREDENTIAL}`, accept: 'application/json' },
});
const data = await res.body.json();
if (res.statusCode !== 200) {
  console.error(`${url} answered ${res.statusCode}`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
