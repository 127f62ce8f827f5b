#!/usr/bin/env node
// The floor for any Node hop on this machine: a pass-through with nothing but node:http on both
// sides (one keep-alive agent, bodies piped both ways, no routing, auth or header rules). What it
// adds over calling the upstream directly is the price of an extra process and two more sockets.
//   node bench/bare-hop.mjs <upstream origin>   → prints "listening on http://127.0.0.1:PORT"
import { Agent, createServer, request } from 'node:http';

const upstream = new URL(process.argv[2]);
const agent = new Agent({ keepAlive: true, scheduling: 'lifo' });
const server = createServer({ noDelay: true }, (req, res) => {
  const headers = { ...req.headers, host: upstream.host };
  delete headers.connection;
  const out = request({ hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (answer) => {
    res.writeHead(answer.statusCode, answer.headers);
    answer.pipe(res);
  });
  out.on('error', () => res.destroy());
  req.pipe(out);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
// SIGINT ends it cleanly, so a run under --cpu-prof writes its profile.
process.on('SIGINT', () => process.exit(0));
