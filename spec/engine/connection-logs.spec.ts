import { expect } from 'chai';
import { ConnectionLogs, DEFAULT_LOG_CAPACITY, NO_CORRELATION_ID, scrubSecrets, type ConnectionLogInput } from '../../src/engine/connection-logs.ts';

const START = Date.UTC(2025, 0, 1, 12, 0, 0);

function manualClock(start: number): { now(): number; advance(ms: number): void } {
  let time = start;
  return { now: () => time, advance: (ms) => { time += ms; } };
}

const published = (n: number, level: 'success' | 'failure' = 'success'): ConnectionLogInput => ({
  correlationId: `c-${n}`,
  category: 'target',
  type: 'published',
  level,
  message: `message ${n}`,
  address: 'POST:/orders',
  entityId: 'org.acme:pump-1',
});

describe('ConnectionLogs', () => {
  it("renders Ditto's logs document with ISO times", () => {
    const clock = manualClock(START);
    const logs = new ConnectionLogs('shop', { clock });
    clock.advance(250);
    logs.log(published(1, 'failure'));
    logs.log({ category: 'connection', type: 'other', level: 'success', message: 'token obtained' });
    expect(logs.toDocument()).to.deep.equal({
      connectionId: 'shop',
      enabledSince: '2025-01-01T12:00:00.000Z',
      enabledUntil: null,
      connectionLogs: [
        { correlationId: 'c-1', timestamp: '2025-01-01T12:00:00.250Z', category: 'target', type: 'published', level: 'failure', message: 'message 1', address: 'POST:/orders', entityId: 'org.acme:pump-1' },
        { correlationId: NO_CORRELATION_ID, timestamp: '2025-01-01T12:00:00.250Z', category: 'connection', type: 'other', level: 'success', message: 'token obtained' },
      ],
    });
  });

  it('keeps 10 successes and 40 failures by default, dropping the oldest', () => {
    expect(DEFAULT_LOG_CAPACITY).to.deep.equal({ success: 10, failure: 40 });
    const logs = new ConnectionLogs('shop');
    for (let n = 0; n < 100; n++) logs.log(published(n, n % 2 === 0 ? 'success' : 'failure'));
    const entries = logs.entries();
    const successes = entries.filter((e) => e.level === 'success').map((e) => e.correlationId);
    const failures = entries.filter((e) => e.level === 'failure').map((e) => e.correlationId);
    expect(successes).to.deep.equal(Array.from({ length: 10 }, (_, i) => `c-${80 + 2 * i}`));
    expect(failures).to.have.length(40);
    expect(failures[0]).to.equal('c-21');
    expect(failures.at(-1)).to.equal('c-99');
  });

  it('never lets a flood of successes push out a failure', () => {
    const logs = new ConnectionLogs('shop', { successCapacity: 2, failureCapacity: 1 });
    logs.log(published(1, 'failure'));
    for (let n = 2; n < 1000; n++) logs.log(published(n));
    expect(logs.entries().map((e) => e.correlationId)).to.deep.equal(['c-1', 'c-998', 'c-999']);
  });

  it('merges both rings in logging order', () => {
    const clock = manualClock(START);
    const logs = new ConnectionLogs('shop', { clock, successCapacity: 3, failureCapacity: 3 });
    logs.log(published(1));
    logs.log(published(2, 'failure'));
    logs.log(published(3));
    logs.log({ ...published(4, 'failure'), timestamp: START - 1000 });
    expect(logs.entries().map((e) => e.correlationId)).to.deep.equal(['c-1', 'c-2', 'c-3', 'c-4']);
    expect(logs.entries()[3]?.timestamp).to.equal('2025-01-01T11:59:59.000Z');
  });

  it('honours configured capacities, including zero', () => {
    const logs = new ConnectionLogs('shop', { successCapacity: 0, failureCapacity: 3 });
    for (let n = 0; n < 5; n++) logs.log(published(n));
    for (let n = 5; n < 10; n++) logs.log(published(n, 'failure'));
    expect(logs.entries().map((e) => e.correlationId)).to.deep.equal(['c-7', 'c-8', 'c-9']);
  });

  it('clears every entry and restarts enabledSince', () => {
    const clock = manualClock(START);
    const logs = new ConnectionLogs('shop', { clock });
    logs.log(published(1));
    clock.advance(60_000);
    logs.clear();
    expect(logs.toDocument()).to.deep.include({ enabledSince: '2025-01-01T12:01:00.000Z', connectionLogs: [] });
    logs.log(published(2));
    expect(logs.entries().map((e) => e.correlationId)).to.deep.equal(['c-2']);
  });

  it('scrubs credentials a caller let slip into a message', () => {
    const logs = new ConnectionLogs('shop');
    logs.log({ ...published(1, 'failure'), message: 'sent Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2ln to target; body grant_type=client_credentials&client_secret=s3cr3t&scope=a' });
    const [entry] = logs.entries();
    expect(entry?.message).to.equal('sent Authorization: Bearer *** to target; body grant_type=client_credentials&client_secret=***&scope=a');
    expect(JSON.stringify(logs.toDocument())).to.not.match(/s3cr3t|eyJhbGciOi/);
  });
});

describe('scrubSecrets', () => {
  const table: [string, string][] = [
    ['Bearer abc.def-ghi_jkl~+/==', 'Bearer ***'],
    ['authorization: bearer xyz', 'authorization: bearer ***'],
    ['Authorization: Basic Y2xpZW50OnNlY3JldA==', 'Authorization: Basic ***'],
    ['client_secret=abc&x=1', 'client_secret=***&x=1'],
    ['CLIENT_SECRET=abc def', 'CLIENT_SECRET=*** def'],
    ['{"access_token":"tok\\"en","token_type":"Bearer"}', '{"access_token":"***","token_type":"Bearer"}'],
    ['{"clientSecret": "abc"}', '{"clientSecret": "***"}'],
    ['refresh_token=r1', 'refresh_token=***'],
    ['target answered 503 Service Unavailable', 'target answered 503 Service Unavailable'],
  ];
  for (const [input, expected] of table) {
    it(`turns ${JSON.stringify(input)} into ${JSON.stringify(expected)}`, () => {
      expect(scrubSecrets(input)).to.equal(expected);
    });
  }
});
