/**
 * A Third Loop instance as it is deployed: the reference server on plain
 * http on loopback, behind nginx terminating TLS with a certificate from a
 * test CA, and `--public-url https://127.0.0.1:<nginx port>` so every link,
 * cookie and snippet the server makes names the public https address.
 *
 *   const instance = await startHttpsInstance();   // after needs('openssl', 'nginx')
 *   instance.url          // https://127.0.0.1:<port>, what users pass to --api-url
 *   instance.ca.certFile  // for NODE_EXTRA_CA_CERTS
 *   await instance.stop();
 */
import { freePort } from './free-port.js';
import { startNginx, type Nginx } from './nginx.js';
import { startReferenceServer, type ReferenceServer, type ReferenceServerOptions } from './reference-server.js';
import { makeTestCa, type IssuedCertificate, type TestCa } from './tls.js';

export interface HttpsInstance {
  /** The public https URL (nginx). */
  url: string;
  ca: TestCa;
  cert: IssuedCertificate;
  server: ReferenceServer;
  nginx: Nginx;
  stop(): Promise<void>;
}

export async function startHttpsInstance(options: ReferenceServerOptions = {}): Promise<HttpsInstance> {
  const ca = makeTestCa();
  // The chain (leaf, then CA), as servers send it: a browser pinning the CA finds it there.
  const cert = ca.issue({ fullChain: true });
  let lastError: unknown;
  // The public URL names nginx's port before nginx runs; if another process takes that port in
  // between, start both again on another.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    const server = await startReferenceServer({ ...options, args: [...(options.args ?? []), '--public-url', url] });
    try {
      const nginx = await startNginx({ upstream: server.url, cert, port });
      return {
        url,
        ca,
        cert,
        server,
        nginx,
        async stop() {
          await Promise.all([nginx.stop(), server.stop()]);
          ca.cleanup();
        },
      };
    } catch (error) {
      lastError = error;
      await server.stop();
      if (!/Address already in use/.test(String((error as Error).message))) break;
    }
  }
  ca.cleanup();
  throw lastError;
}
