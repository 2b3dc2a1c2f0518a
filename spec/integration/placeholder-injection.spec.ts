import { expect } from 'chai';
import { faultYaml, startEngineHarness, type EngineHarness } from '../helpers/fault-harness.ts';
import { rawFaults, startFaultSocketServer, type FaultSocketServer } from '../helpers/fault-socket-server.ts';

/** Hostile values placed in thing ids and Ditto headers, which feed address and headerMapping placeholders. */
const HOSTILE = [
  'a\r\nX-Injected: 1',
  'a\nX-Injected: 2',
  'a HTTP/1.1\r\nHost: evil.example\r\n\r\nGET /admin',
  '../../admin',
  '..%2F..%2Fadmin',
  'a?admin=true',
  'a&admin=true',
  'a#fragment',
  'a b\tc',
  'ünïcødé-€-😀',
  '%0d%0aX-Encoded: 1',
  'nul\u0000byte',
  'plain',
];

/** Lines of a request head as received on the wire. */
function headLines(head: string): string[] {
  return head.split('\r\n');
}

describe('placeholder values from event data cannot inject headers or alter the request line', function () {
  this.timeout(10_000);
  let raw: FaultSocketServer;
  let harness: EngineHarness | undefined;

  beforeEach(async () => {
    raw = await startFaultSocketServer(rawFaults.reply(200, '{}'));
  });

  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
    await raw.close();
  });

  it('keeps the method, path structure, query and header set intact for every hostile value', async () => {
    harness = await startEngineHarness(
      faultYaml({
        uri: raw.url,
        address: 'POST:/things/{{ thing:id }}/inbox?q={{ header:x-q }}&fixed=1',
        headerMapping: { 'x-thing': '{{ thing:name }}', 'x-q': '{{ header:x-q }}', 'x-static': 'static' },
        parallelism: 1,
      }),
    );
    for (const value of HOSTILE) harness.dispatch(1, { thingId: `org.acme:${value}`, headers: { 'x-q': value } });
    const counts = await harness.settled('c1', HOSTILE.length);
    // Nothing fails on the wire: hostile values are encoded (address) or left out (headers).
    expect(counts['failed'] ?? 0).to.equal(0);
    expect((counts['published'] ?? 0) + (counts['dropped'] ?? 0)).to.equal(HOSTILE.length);
    expect(raw.requests).to.have.length(counts['published'] ?? 0);
    expect(raw.requests.length).to.be.at.least(HOSTILE.length - 1);

    const seen = new Set<string>();
    for (const request of raw.requests) {
      const [requestLine = '', ...headerLines] = headLines(request.head);
      // One request line: method, one target without spaces, version.
      const match = /^POST (\/things\/([^ /?#]+)\/inbox\?([^ #]*)) HTTP\/1\.1$/.exec(requestLine);
      expect(match, requestLine).to.not.equal(null);
      const thingId = decodeURIComponent(match?.[2] ?? '');
      const query = new URLSearchParams(match?.[3] ?? '');
      expect(thingId.startsWith('org.acme:')).to.equal(true);
      const value = thingId.slice('org.acme:'.length);
      expect(HOSTILE).to.include(value);
      seen.add(value);
      // The query keeps its two parameters; the hostile value is one parameter's value, verbatim.
      expect([...query.keys()]).to.deep.equal(['q', 'fixed']);
      expect(query.get('q')).to.equal(value);
      expect(query.get('fixed')).to.equal('1');

      const names = headerLines.map((line) => line.slice(0, line.indexOf(':')).toLowerCase());
      expect(names).to.not.include('x-injected');
      expect(names).to.not.include('x-encoded');
      expect(names.filter((name) => name === 'host')).to.have.length(1);
      expect(headerLines.find((line) => line.toLowerCase().startsWith('host:'))?.toLowerCase()).to.equal(`host: ${new URL(raw.url).host}`);
      expect(headerLines).to.include('x-static: static');
      const thingHeader = headerLines.find((line) => line.startsWith('x-thing:'));
      const unsendable = [...value].some((char) => ['\r', '\n', '\0'].includes(char) || (char.codePointAt(0) ?? 0) > 0xff);
      if (/^[\t\x20-\x7e]*$/.test(value)) expect(thingHeader).to.equal(`x-thing: ${value}`);
      else if (unsendable) expect(thingHeader).to.equal(undefined);
    }
    // Every published value arrived exactly once, unmangled.
    expect(seen.size).to.equal(raw.requests.length);
  });

  it('cannot replace the path through an http.path header mapping fed with CR/LF', async () => {
    harness = await startEngineHarness(
      faultYaml({ uri: raw.url, address: 'POST:/fixed', headerMapping: { 'http.path': '/things/{{ header:x-p }}' }, parallelism: 1 }),
    );
    harness.dispatch(1, { headers: { 'x-p': 'a\r\nX-Injected: 1' } });
    harness.dispatch(1, { headers: { 'x-p': 'a b?c#d' } });
    await harness.settled('c1', 2);
    for (const request of raw.requests) {
      const [requestLine = '', ...headerLines] = headLines(request.head);
      expect(requestLine).to.match(/^POST \/[^ ]* HTTP\/1\.1$/);
      expect(headerLines.map((line) => line.toLowerCase())).to.not.include('x-injected: 1');
    }
  });
});
