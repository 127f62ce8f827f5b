// The floor for a command that makes one request: the same authenticated GET with node:http, the body
// printed, nothing else. The URL comes from argv, the credential from the environment (never argv).
import http from 'node:http';

http.get(process.argv[2], { headers: { authorization: `Bearer ${process.env.BENCH_CREDENTIAL}`, accept: 'application/json' } }, (res) => {
  res.pipe(process.stdout);
  res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 1));
});
