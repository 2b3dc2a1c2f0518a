/**
 * Test certificates: a CA and a server certificate it signed for 127.0.0.1 / localhost, generated
 * once per process (RSA key generation is slow) and shared by every spec that needs HTTPS.
 */
import { generate } from 'selfsigned';

/** PEM strings: the CA certificate to trust, and the server's certificate and private key. */
export interface TestCertificates {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

let cached: Promise<TestCertificates> | undefined;

/**
 * The process-wide test CA and server certificate (cached).
 *
 * @example
 * const { ca, cert, key } = await createTestCertificates();
 * https.createServer({ cert, key }, handler); got(url, { https: { certificateAuthority: ca } });
 */
export function createTestCertificates(): Promise<TestCertificates> {
  cached ??= generateCertificates();
  return cached;
}

async function generateCertificates(): Promise<TestCertificates> {
  const notBeforeDate = new Date(Date.now() - 24 * 3_600_000);
  const notAfterDate = new Date(Date.now() + 365 * 24 * 3_600_000);
  const ca = await generate([{ name: 'commonName', value: 'twinlink test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  return { ca: ca.cert, cert: server.cert, key: server.private };
}
