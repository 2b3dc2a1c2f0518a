import { expect } from 'chai';
import net from 'node:net';
import type { AddressInfo, LookupFunction } from 'node:net';
import sinon from 'sinon';
import { reachFailureReason, reachTarget } from '../../src/connection/reach-target.ts';
import { createTestCertificates, type TestCertificates } from '../helpers/tls.ts';
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';

/** The coded error a probe rejects with. */
async function failure(promise: Promise<void>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(Error);
    return error as Error & { code?: string };
  }
  throw new Error('expected the probe to fail');
}

/** A TCP server that accepts connections and never answers (no TLS handshake). */
async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

describe('reachTarget (the reachability probe)', () => {
  let certs: TestCertificates;
  let secure: WebhookServer;

  before(async () => {
    certs = await createTestCertificates();
  });
  beforeEach(async () => {
    secure = await startWebhookServer({ tls: { key: certs.key, cert: certs.cert } });
  });
  afterEach(async () => {
    await secure.close();
  });

  it('completes the TLS handshake with the connection\'s ca and sends no request', async () => {
    await reachTarget(new URL(secure.url), { timeout: 5000, validateCertificates: true, ca: certs.ca });
    expect(secure.requests).to.have.length(0);
  });

  it('rejects with the certificate problem when the certificate is not trusted', async () => {
    const error = await failure(reachTarget(new URL(secure.url), { timeout: 5000, validateCertificates: true }));
    expect(error.code).to.equal('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(reachFailureReason(error)).to.equal('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('accepts an untrusted certificate when validateCertificates is false', async () => {
    await reachTarget(new URL(secure.url), { timeout: 5000, validateCertificates: false });
  });

  it('only connects over TCP for a plain http target', async () => {
    const plain = await startWebhookServer();
    try {
      await reachTarget(new URL(`${plain.url}/hook?x=1`), { timeout: 5000, validateCertificates: true });
      expect(plain.requests).to.have.length(0);
    } finally {
      await plain.close();
    }
  });

  it('rejects with ECONNREFUSED when nothing listens', async () => {
    const gone = await startWebhookServer();
    await gone.close();
    const error = await failure(reachTarget(new URL(`https://127.0.0.1:${gone.port}`), { timeout: 5000, validateCertificates: true }));
    expect(reachFailureReason(error)).to.equal('ECONNREFUSED');
  });

  it('resolves the host through the given lookup (the host policy), which may refuse it', async () => {
    const looked: string[] = [];
    const toLoopback = ((hostname: string, options: { all?: boolean }, callback: (error: Error | null, address: unknown, family?: number) => void) => {
      looked.push(hostname);
      // Node asks for every address (`all`) when it may try several families.
      if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    }) as unknown as LookupFunction;
    await reachTarget(new URL(`https://hook.test:${secure.port}`), { timeout: 5000, validateCertificates: false, lookup: toLoopback });
    expect(looked).to.deep.equal(['hook.test']);

    const refusing = ((_hostname: string, _options: unknown, callback: (error: Error | null) => void) => {
      callback(Object.assign(new Error('host hook.test is blocked'), { code: 'ERR_HOST_BLOCKED' }));
    }) as unknown as LookupFunction;
    const error = await failure(reachTarget(new URL(`https://hook.test:${secure.port}`), { timeout: 5000, validateCertificates: false, lookup: refusing }));
    expect(reachFailureReason(error)).to.equal('ERR_HOST_BLOCKED');
  });

  describe('against a target that accepts TCP but never completes the handshake', () => {
    let silent: Awaited<ReturnType<typeof startSilentServer>>;
    beforeEach(async () => {
      silent = await startSilentServer();
    });
    afterEach(async () => {
      await silent.close();
    });

    it('rejects with timeout after the given time', async () => {
      const fake = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        const probe = reachTarget(new URL(`https://127.0.0.1:${silent.port}`), { timeout: 2000, validateCertificates: true });
        const outcome = failure(probe);
        fake.tick(1999);
        let settled = false;
        void outcome.then(() => (settled = true));
        await Promise.resolve();
        expect(settled, 'before the timeout').to.equal(false);
        fake.tick(1);
        expect(reachFailureReason(await outcome)).to.equal('timeout');
      } finally {
        fake.restore();
      }
    });

    it('stops and rejects with aborted when its signal aborts', async () => {
      const controller = new AbortController();
      const probe = failure(reachTarget(new URL(`https://127.0.0.1:${silent.port}`), { timeout: 60_000, validateCertificates: true, signal: controller.signal }));
      controller.abort();
      expect(reachFailureReason(await probe)).to.equal('aborted');
      expect(reachFailureReason(await failure(reachTarget(new URL(`https://127.0.0.1:${silent.port}`), { timeout: 60_000, validateCertificates: true, signal: controller.signal })))).to.equal('aborted');
    });
  });
});
