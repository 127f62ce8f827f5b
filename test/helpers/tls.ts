/**
 * A throwaway certificate authority made with the real `openssl` at test
 * time, and server certificates it signs, as an organization's own CA would:
 *
 *   const ca = makeTestCa();                     // needs('openssl') first
 *   const { certFile, keyFile } = ca.issue();    // for 127.0.0.1 and localhost
 *   env.NODE_EXTRA_CA_CERTS = ca.certFile;       // Node then trusts it
 *   chromiumArgs.push(`--ignore-certificate-errors-spki-list=${ca.spki}`);
 *   ca.cleanup();
 *
 * Keys are P-256 (fast to make); nothing of the machine's own trust store is
 * read or changed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  /** base64 SHA-256 of the certificate's SubjectPublicKeyInfo (Chromium's SPKI pin format). */
  spki: string;
}

export interface TestCa {
  dir: string;
  /** The CA certificate (PEM): what NODE_EXTRA_CA_CERTS or --upstream-ca points at. */
  certFile: string;
  cert: string;
  spki: string;
  /** A server certificate signed by this CA, for `names` (default 127.0.0.1 and localhost). */
  issue(options?: { names?: string[]; days?: number; fullChain?: boolean }): IssuedCertificate;
  cleanup(): void;
}

const openssl = (args: string[], input?: string) =>
  execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });

/** Chromium's `--ignore-certificate-errors-spki-list` value for a PEM certificate. */
export function spkiHash(certFile: string): string {
  const pub = openssl(['x509', '-in', certFile, '-pubkey', '-noout']).toString();
  const der = openssl(['pkey', '-pubin', '-outform', 'der'], pub);
  return execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: der }).toString('base64');
}

export function makeTestCa(commonName = 'thirdloop test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'thirdloop-ca-'));
  const certFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca.key');
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${commonName}`, '-keyout', keyFile, '-out', certFile,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  let serial = 0;
  return {
    dir,
    certFile,
    cert: readFileSync(certFile, 'utf8'),
    spki: spkiHash(certFile),
    issue({ names = ['127.0.0.1', 'localhost'], days = 2, fullChain = false } = {}) {
      const n = ++serial;
      const key = join(dir, `server-${n}.key`);
      const csr = join(dir, `server-${n}.csr`);
      const cert = join(dir, `server-${n}.pem`);
      const ext = join(dir, `server-${n}.ext`);
      const san = names.map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
      writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${names[0]}`, '-keyout', key, '-out', csr]);
      openssl(['x509', '-req', '-in', csr, '-CA', certFile, '-CAkey', keyFile, '-set_serial', String(1000 + n), '-days', String(days), '-extfile', ext, '-out', cert]);
      // A server that sends its chain (leaf then CA), as nginx does with a full-chain file.
      if (fullChain) writeFileSync(cert, readFileSync(cert, 'utf8') + readFileSync(certFile, 'utf8'));
      return { certFile: cert, keyFile: key, cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8'), spki: spkiHash(cert) };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
