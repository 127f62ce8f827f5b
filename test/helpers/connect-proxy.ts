/** A CONNECT handler, as a corporate HTTP proxy tunnels HTTPS: records each tunnel's target and pipes bytes both ways. */
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';

export function tunnelHandler(tunnels: string[], target?: () => { host: string; port: number }) {
  return (req: IncomingMessage, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host = '', port = ''] = (req.url ?? '').split(':');
    const to = target?.() ?? { host, port: Number(port) };
    const upstream = connect(to.port, to.host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  };
}
