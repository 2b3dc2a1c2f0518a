import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { expect } from 'chai';
import got from 'got';
import { ErrorCode, HostBlockedError } from '../../src/errors.ts';
import { createHostPolicy, normalizeHost } from '../../src/shared/host-policy.ts';
import type { HostLookup, HostPolicySettings, ResolvedAddress } from '../../src/shared/host-policy.ts';

/** A fake DNS: names map to addresses; unknown names fail like getaddrinfo. Records every query. */
function fakeDns(records: Record<string, readonly string[]>): HostLookup & { queries: string[] } {
  const queries: string[] = [];
  const lookup = async (hostname: string): Promise<readonly ResolvedAddress[]> => {
    queries.push(hostname);
    const addresses = records[hostname.toLowerCase()];
    if (addresses === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(lookup, { queries });
}

const DNS = {
  'public.example': ['93.184.216.34'],
  'public6.example': ['2606:2800:220:1:248:1893:25c8:1946'],
  'localhost': ['127.0.0.1', '::1'],
  'internal.example': ['10.1.2.3'],
  'office.example': ['172.20.0.5'],
  'home.example': ['192.168.1.10'],
  'ula.example': ['fd00:ec2::254'],
  'metadata.example': ['169.254.169.254'],
  'linklocal6.example': ['fe80::1'],
  'zero.example': ['0.0.0.0'],
  'any6.example': ['::'],
  'mcast.example': ['239.1.2.3'],
  'mapped.example': ['::ffff:127.0.0.1'],
  'mixed.example': ['93.184.216.34', '10.0.0.1'],
  'dmz.example': ['203.0.113.7'],
  'dmz6.example': ['2001:db8::42'],
  'evil.example': ['198.51.100.9'],
  'twin-of-evil.example': ['198.51.100.9'],
  'empty.example': [],
};

const ON: HostPolicySettings = { allowedHosts: [], blockedHosts: [], blockedSubnets: ['203.0.113.0/24', '2001:db8::/32'] };

async function refusal(promise: Promise<unknown>): Promise<HostBlockedError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(HostBlockedError);
    expect((error as HostBlockedError).code).to.equal(ErrorCode.HOST_BLOCKED);
    return error as HostBlockedError;
  }
  expect.fail('expected a HostBlockedError, but the host was allowed');
}

describe('host policy', () => {
  describe('when no list is configured', () => {
    it('is disabled and allows loopback and private hosts without resolving them', async () => {
      const dns = fakeDns(DNS);
      const policy = createHostPolicy({ allowedHosts: [], blockedHosts: [], blockedSubnets: [] }, { lookup: dns });
      expect(policy.enabled).to.equal(false);
      for (const url of ['http://127.0.0.1:8080/x', 'https://localhost/token', 'http://internal.example/', 'http://[::1]/']) await policy.check(url);
      expect(dns.queries).to.deep.equal([]);
    });
  });

  describe('when filtering is on', () => {
    const table: readonly (readonly [string, string, string])[] = [
      ['http://127.0.0.1:8080/x', 'loopback', 'host "127.0.0.1" is a loopback address'],
      ['http://127.9.9.9/', 'loopback', 'loopback'],
      ['http://[::1]:9000/', 'loopback', 'host "::1" is a loopback address'],
      ['https://localhost/token', 'loopback', 'host "localhost" resolves to 127.0.0.1, a loopback address'],
      ['http://2130706433/', 'loopback', 'host "127.0.0.1"'],
      ['http://mapped.example/', 'loopback', 'resolves to ::ffff:127.0.0.1'],
      ['http://internal.example/', 'private', 'resolves to 10.1.2.3, a private address'],
      ['http://office.example/', 'private', '172.20.0.5'],
      ['http://home.example/', 'private', '192.168.1.10'],
      ['http://ula.example/', 'private', 'fd00:ec2::254'],
      ['http://metadata.example/latest', 'link-local', 'resolves to 169.254.169.254, a link-local address'],
      ['http://169.254.169.254/latest', 'link-local', 'link-local'],
      ['http://linklocal6.example/', 'link-local', 'fe80::1'],
      ['http://zero.example/', 'unspecified', 'unspecified'],
      ['http://0.0.0.0:80/', 'unspecified', 'unspecified'],
      ['http://any6.example/', 'unspecified', 'unspecified'],
      ['http://mcast.example/', 'multicast', 'multicast'],
      ['http://mixed.example/', 'private', 'resolves to 10.0.0.1'],
      ['http://dmz.example/', 'blocked-subnet', 'resolves to 203.0.113.7, an address in engine.blockedSubnets'],
      ['http://203.0.113.200/', 'blocked-subnet', 'engine.blockedSubnets'],
      ['http://dmz6.example/', 'blocked-subnet', '2001:db8::42'],
      ['http://nowhere.example/', 'unresolvable', 'host "nowhere.example" cannot be resolved (ENOTFOUND)'],
      ['http://empty.example/', 'unresolvable', 'resolves to no address'],
      ['not a url', 'invalid-url', 'invalid'],
    ];
    for (const [url, rule, text] of table) {
      it(`refuses ${url} by the ${rule} rule`, async () => {
        const error = await refusal(createHostPolicy(ON, { lookup: fakeDns(DNS) }).check(url));
        expect(error.rule).to.equal(rule);
        expect(error.message).to.include(text);
      });
    }

    it('allows hosts whose every address is public and outside the blocked subnets', async () => {
      const policy = createHostPolicy(ON, { lookup: fakeDns(DNS) });
      expect(policy.enabled).to.equal(true);
      await policy.check('https://public.example/hook');
      await policy.check('https://public6.example:8443/hook');
      await policy.check('https://93.184.216.34/');
      await policy.checkHost('2606:2800:220:1:248:1893:25c8:1946');
    });

    it('does not ask DNS about IP literals', async () => {
      const dns = fakeDns(DNS);
      const policy = createHostPolicy(ON, { lookup: dns });
      await policy.check('https://93.184.216.34/');
      await refusal(policy.check('http://[fd00::1]/'));
      expect(dns.queries).to.deep.equal([]);
    });

    it('names the host and the rule, never the userinfo, path or query of the URL', async () => {
      const error = await refusal(
        createHostPolicy(ON, { lookup: fakeDns(DNS) }).check('https://alice:s3cr3t-pw@internal.example:8443/p/secret-path?access_token=tok-123'),
      );
      expect(error.host).to.equal('internal.example');
      expect(error.message).to.include('"internal.example"').and.include('engine.allowedHosts');
      for (const leaked of ['alice', 's3cr3t-pw', 'secret-path', 'access_token', 'tok-123', '8443']) expect(error.message).not.to.include(leaked);
    });

    it('never echoes an invalid URL, which may hold a secret', async () => {
      const error = await refusal(createHostPolicy(ON).check('http://user:p@ss w0rd@[bad'));
      expect(error.message).not.to.include('w0rd');
    });
  });

  describe('allowedHosts', () => {
    it('always allows a listed host, even one resolving to loopback, and compares case-insensitively', async () => {
      const dns = fakeDns(DNS);
      const policy = createHostPolicy({ ...ON, allowedHosts: ['LocalHost', '127.0.0.1', '0:0::1', 'dmz.example.'] }, { lookup: dns });
      await policy.check('http://localhost:8080/token');
      await policy.check('http://LOCALHOST./token');
      await policy.check('http://127.0.0.1:9/');
      await policy.check('http://[::1]:9/');
      await policy.check('http://dmz.example/');
      expect(dns.queries, 'allowed hosts need no resolution').to.deep.equal([]);
    });

    it('alone turns filtering on for every other host', async () => {
      const policy = createHostPolicy({ allowedHosts: ['public.example'], blockedHosts: [], blockedSubnets: [] }, { lookup: fakeDns(DNS) });
      expect(policy.enabled).to.equal(true);
      expect((await refusal(policy.check('http://127.0.0.1/'))).rule).to.equal('loopback');
    });
  });

  describe('blockedHosts', () => {
    const settings: HostPolicySettings = { allowedHosts: [], blockedHosts: ['Evil.Example', '198.18.0.1', 'gone.example'], blockedSubnets: [] };

    it('refuses a listed name case-insensitively', async () => {
      const error = await refusal(createHostPolicy(settings, { lookup: fakeDns(DNS) }).check('https://EVIL.example./x'));
      expect(error.rule).to.equal('blocked-host');
      expect(error.message).to.include('host "evil.example" is listed in engine.blockedHosts');
    });

    it('refuses another name resolving to an address of a listed host', async () => {
      const error = await refusal(createHostPolicy(settings, { lookup: fakeDns(DNS) }).check('https://twin-of-evil.example/'));
      expect(error.rule).to.equal('blocked-host');
      expect(error.message).to.include('resolves to 198.51.100.9, an address of a host in engine.blockedHosts');
    });

    it('refuses listed addresses and resolves listed names only once', async () => {
      const dns = fakeDns(DNS);
      const policy = createHostPolicy(settings, { lookup: dns });
      expect((await refusal(policy.check('http://198.18.0.1/'))).rule).to.equal('blocked-host');
      await policy.check('https://public.example/');
      await policy.check('https://public.example/');
      expect(dns.queries.filter((q) => q === 'evil.example')).to.have.length(1);
    });

    it('still allows public hosts when a listed name cannot be resolved (and retries it later)', async () => {
      const dns = fakeDns(DNS);
      const policy = createHostPolicy(settings, { lookup: dns });
      await policy.check('https://public.example/');
      await policy.check('https://public.example/');
      expect(dns.queries.filter((q) => q === 'gone.example')).to.have.length(2);
    });
  });

  describe('dnsLookup (connect time)', () => {
    let server: Server;
    let port: number;
    let hits: number;
    before(async () => {
      server = createServer((_req, res) => {
        hits++;
        res.end('ok');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    beforeEach(() => {
      hits = 0;
    });

    function call(lookup: LookupFunction, hostname: string, options: Parameters<LookupFunction>[1]): Promise<unknown> {
      return new Promise((resolve, reject) => {
        lookup(hostname, options, (error, address, family) => (error ? reject(error) : resolve(options.all ? address : { address, family })));
      });
    }

    it('answers in both shapes net uses, honouring the requested family', async () => {
      const { dnsLookup } = createHostPolicy(ON, { lookup: fakeDns({ 'dual.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'], 'v4.example': ['93.184.216.34'] }) });
      expect(await call(dnsLookup, 'dual.example', {})).to.deep.equal({ address: '93.184.216.34', family: 4 });
      expect(await call(dnsLookup, 'dual.example', { family: 6 })).to.deep.equal({ address: '2606:2800:220:1:248:1893:25c8:1946', family: 6 });
      expect(await call(dnsLookup, 'dual.example', { all: true })).to.have.length(2);
      const none = await call(dnsLookup, 'v4.example', { family: 6 }).catch((e: unknown) => e);
      expect(none).to.have.property('code', 'ENOTFOUND');
    });

    it('refuses at connect time a name that re-resolved to loopback after the check (DNS rebinding), without connecting', async () => {
      let answer = '93.184.216.34';
      const rebinding: HostLookup = async () => [{ address: answer, family: 4 }];
      const policy = createHostPolicy(ON, { lookup: rebinding });
      const url = `http://rebind.example:${port}/hook`;
      await policy.check(url);
      answer = '127.0.0.1';
      const error = await got(url, { dnsLookup: policy.dnsLookup, retry: { limit: 0 } }).catch((e: unknown) => e);
      expect(error).to.have.property('code', ErrorCode.HOST_BLOCKED);
      expect((error as Error).cause).to.be.instanceOf(HostBlockedError);
      expect(hits).to.equal(0);
    });

    it('lets an allowed name connect to loopback', async () => {
      const policy = createHostPolicy({ ...ON, allowedHosts: ['hook.example'] }, { lookup: fakeDns({ 'hook.example': ['127.0.0.1'] }) });
      const body = await got(`http://hook.example:${port}/`, { dnsLookup: policy.dnsLookup, retry: { limit: 0 } }).text();
      expect(body).to.equal('ok');
      expect(hits).to.equal(1);
    });

    it('refuses names listed in blockedHosts before resolving them', async () => {
      const dns = fakeDns({ 'evil.example': ['127.0.0.1'] });
      const policy = createHostPolicy({ ...ON, blockedHosts: ['evil.example'] }, { lookup: dns });
      const error = await call(policy.dnsLookup, 'evil.example', { all: true }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(HostBlockedError).and.have.property('rule', 'blocked-host');
    });
  });

  describe('normalizeHost', () => {
    it('lower-cases, strips brackets and the root dot, and canonicalises IP literals', () => {
      expect(normalizeHost('Example.ORG.')).to.equal('example.org');
      expect(normalizeHost('[0:0::1]')).to.equal('::1');
      expect(normalizeHost('0x7f.1')).to.equal('127.0.0.1');
      expect(normalizeHost('::FFFF:127.0.0.1')).to.equal('::ffff:7f00:1');
    });
  });
});
