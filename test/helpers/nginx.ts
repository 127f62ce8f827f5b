/**
 * Debian's nginx as the TLS-terminating reverse proxy in front of the
 * reference server, the way a self-hosted instance is deployed. Started by the
 * test with its own prefix, config, pid file, logs and temp folders in a temp
 * directory (`-p DIR -c CONF -e ERROR_LOG`, so nothing of /etc/nginx or
 * /var/log/nginx is read or written), on a free loopback port, in the
 * foreground so the test owns the process; stopped with SIGTERM.
 *
 *   const proxy = await startNginx({ upstream: server.url, cert });   // needs('nginx')
 *   proxy.url        // https://127.0.0.1:<port>
 *   proxy.accessLog()
 *   await proxy.stop();
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { which } from './components.js';
import { startDaemon } from './daemon.js';
import type { IssuedCertificate } from './tls.js';

export interface Nginx {
  /** `https://127.0.0.1:<port>` */
  url: string;
  port: number;
  dir: string;
  accessLog(): string;
  errorLog(): string;
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** The plain-http server behind it, e.g. the reference server's `http://127.0.0.1:PORT`. */
  upstream?: string;
  /**
   * Instead of the server block below: the `http { … }` contents as an operator wrote them (the
   * README's, with the test's addresses); `LISTEN`, the port, is in it already.
   */
  httpBody?: string;
  cert: IssuedCertificate;
  /** A port chosen beforehand (when the server behind must know its public URL first); default: a free one. */
  port?: number;
}

/**
 * The server block an operator would write in front of a Third Loop instance (README, "Behind a
 * reverse proxy"): the original Host and scheme passed on, the client's address in X-Forwarded-For,
 * no response buffering (the gateway streams), bodies up to the gateway's limit.
 */
export function nginxConfig(dir: string, port: number, options: NginxOptions): string {
  // Root's workers would otherwise run as "nobody", who cannot write this test's private temp folders.
  const user = process.getuid?.() === 0 ? `user ${userInfo().username};\n` : '';
  return `${user}daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  # The replica that answered, for tests that check the requests were spread.
  log_format withupstream '$remote_addr "$request" $status upstream=$upstream_addr';
  access_log ${dir}/access.log withupstream;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
${options.httpBody ?? serverBlock(port, options)}
}
`;
}

function serverBlock(port: number, options: NginxOptions): string {
  return `  server {
    listen 127.0.0.1:${port} ssl;
    server_name localhost 127.0.0.1;
    ssl_certificate ${options.cert.certFile};
    ssl_certificate_key ${options.cert.keyFile};
    client_max_body_size 16m;
    location / {
      proxy_pass ${options.upstream!.replace(/\/+$/, '')};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_buffering off;
      proxy_read_timeout 600s;
    }
  }`;
}

const NGINX = () => which('nginx') ?? '/usr/sbin/nginx';

export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');
  const daemon = await startDaemon({
    name: 'nginx',
    command: NGINX(),
    port: options.port,
    configure(dir, port) {
      mkdirSync(join(dir, 'tmp'));
      writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, options));
      // -e: the error log from the very start, before the config is read (else /var/log/nginx).
      return ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')];
    },
    logs: (dir) => read(join(dir, 'error.log')),
    portTaken: /Address already in use/,
  });
  return {
    url: `https://127.0.0.1:${daemon.port}`,
    port: daemon.port,
    dir: daemon.dir,
    accessLog: () => read(join(daemon.dir, 'access.log')),
    errorLog: () => read(join(daemon.dir, 'error.log')),
    stop: daemon.stop,
  };
}
