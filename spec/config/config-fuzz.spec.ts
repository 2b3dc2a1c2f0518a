/**
 * Seeded, deterministic fuzzing of the config loader: valid configurations are mutated at random
 * (deleted lines and keys, swapped scalar types, garbage, duplicated keys, truncation, indentation,
 * unset variables) and every result must either load or fail with a clean ConfigError. Set
 * FUZZ_SEED=<n> to explore other seeds; a failure prints the case seed and the mutated text, and
 * `mutate(base, caseSeed)` reproduces it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseConfigText } from '../../src/config/load.ts';
import { ConfigError, ErrorCode } from '../../src/errors.ts';

/** mulberry32: a tiny, well-mixed 32-bit PRNG, so every case is reproducible from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const int = (rng: Rng, n: number): number => Math.floor(rng() * n);
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)] as T;

// Secrets the inputs hold; none may ever appear in an error message.
const ENV = {
  CLIENT_SECRET: 'env-client-secret-7Hq2',
  DITTO_PASSWORD: 'env-ditto-password-Vb41',
  DEVOPS_PASSWORD: 'env-devops-password-Kc88',
  WEBHOOK_PASSWORD: 'env-webhook-password-Rt55',
  BANG_SECRET: '!env-bang-secret-Zz90',
} as const;

const INLINE = `
http: { host: 127.0.0.1, port: 8080 }
auth:
  users:
    - username: alice
      password: inline-alice-password-Xy12
      subject: "nginx:alice"
    - username: bob
      passwordHash: "scrypt$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNo"
  devops:
    username: devops
    password: inline-devops-password-Mn34
things:
  defaultNamespace: org.example
engine:
  oauth2:
    enforceHttps: true
    maxClockSkew: 30s
    requestTimeout: 5s
    unauthorizedStatuses: [401, 403]
    backoff: { initialDelay: 1s, maxDelay: 2m }
  httpPush:
    maxQueueSize: 500
    overflow: drop-oldest
    retry:
      maxAttempts: 3
      initialDelay: 250ms
      maxDelay: 10s
      statuses: [429, 503]
  allowedHosts: [hooks.example.org]
  blockedHosts: [metadata.internal]
  blockedSubnets: [10.0.0.0/8, "fd00::/8"]
connections:
  - id: inline-push
    connectionType: http-push
    connectionStatus: open
    uri: "https://hookuser:inline-uri-password-Pq56@hooks.example.org/base"
    validateCertificates: true
    targets:
      - address: "POST:/events/{{ thing:id }}"
        topics:
          - "_/_/things/twin/events?namespaces=org.example"
          - _/_/things/live/messages
        authorizationContext: ["integration:ditto"]
        headerMapping:
          content-type: application/json
          x-source: "{{ header:source }}"
    specificConfig:
      parallelism: 4
      idleTimeout: 30s
    credentials:
      type: oauth-client-credentials
      tokenEndpoint: https://idp.example.org/oauth2/token
      clientId: inline-client
      clientSecret: inline-client-secret-Gh78
      requestedScopes: "read write"
      clientAuthenticationMethod: client_secret_basic
`;

const SECRETS = [...Object.values(ENV), 'inline-alice-password-Xy12', 'inline-devops-password-Mn34', 'inline-uri-password-Pq56', 'inline-client-secret-Gh78', 'aGFzaGhhc2hoYXNo'];

const root = join(import.meta.dirname, '..', '..');
const BASES: readonly (readonly [string, string])[] = [
  ['inline', INLINE],
  ...['config/examples/reference.yaml', 'config/examples/seed-oauth2.yaml', 'config/twinlink.yaml'].map(
    (file) => [file, readFileSync(join(root, file), 'utf8')] as const,
  ),
];

const KEY_LINE = /^(\s*(?:- )?)([A-Za-z_][\w-]*):(.*)$/;
const VALUES = ['42', '-7', '3.5', '0', '"a string"', 'text', '[1, "two"]', '[]', '{ a: 1 }', '{}', 'true', 'null', '""', '~'];
const GARBAGE = [':', '{', '}', '[', ']', '&', '*', '!', '|', '>', "'", '"', '%', '@', '`', '#', ',', '?', '-', '\t', '\0', '\uFFFD', '\\', '${', 'ä', ' '];

/** Lines from `start` that belong to its key: the line and every more-indented line after it. */
function blockEnd(lines: readonly string[], start: number): number {
  const indent = (s: string) => s.length - s.trimStart().length;
  const base = indent(lines[start] ?? '');
  let end = start + 1;
  while (end < lines.length && ((lines[end] ?? '').trim() === '' || indent(lines[end] ?? '') > base)) end++;
  return end;
}

function keyLines(lines: readonly string[]): number[] {
  return lines.flatMap((l, i) => (KEY_LINE.test(l) && !l.trimStart().startsWith('#') ? [i] : []));
}

/** The mutations, each `(text, rng) → text`; named so a failure says what was done. */
const MUTATIONS: Readonly<Record<string, (text: string, rng: Rng) => string>> = {
  deleteLine(text, rng) {
    const lines = text.split('\n');
    lines.splice(int(rng, lines.length), 1);
    return lines.join('\n');
  },
  deleteKey(text, rng) {
    const lines = text.split('\n');
    const keys = keyLines(lines);
    if (keys.length === 0) return text;
    const at = pick(rng, keys);
    lines.splice(at, blockEnd(lines, at) - at);
    return lines.join('\n');
  },
  swapType(text, rng) {
    const lines = text.split('\n');
    const scalars = keyLines(lines).filter((i) => (KEY_LINE.exec(lines[i] ?? '')?.[3] ?? '').trim() !== '');
    if (scalars.length === 0) return text;
    const at = pick(rng, scalars);
    const [, lead = '', key = ''] = KEY_LINE.exec(lines[at] ?? '') ?? [];
    lines[at] = `${lead}${key}: ${pick(rng, VALUES)}`;
    return lines.join('\n');
  },
  insertGarbage(text, rng) {
    const at = int(rng, text.length + 1);
    let junk = '';
    for (let n = 1 + int(rng, 3); n > 0; n--) junk += pick(rng, GARBAGE);
    return text.slice(0, at) + junk + text.slice(at);
  },
  duplicateKey(text, rng) {
    const lines = text.split('\n');
    const keys = keyLines(lines);
    if (keys.length === 0) return text;
    const at = pick(rng, keys);
    const end = blockEnd(lines, at);
    // A duplicate inside a list item must not repeat the `- ` that opens the item.
    const copy = lines.slice(at, end).map((l, i) => (i === 0 ? l.replace(/^(\s*)- /, '$1  ') : l));
    lines.splice(end, 0, ...copy);
    return lines.join('\n');
  },
  nullValue(text, rng) {
    // `key:` with nothing after it (and no children) is null, which defaults do not replace.
    const lines = text.split('\n');
    const keys = keyLines(lines);
    if (keys.length === 0) return text;
    const at = pick(rng, keys);
    const [, lead = '', key = ''] = KEY_LINE.exec(lines[at] ?? '') ?? [];
    lines.splice(at, blockEnd(lines, at) - at, `${lead}${key}:`);
    return lines.join('\n');
  },
  garbleValue(text, rng) {
    // Garbage inside a value (URLs, secrets, durations) rather than anywhere in the text.
    const lines = text.split('\n');
    const scalars = keyLines(lines).filter((i) => (KEY_LINE.exec(lines[i] ?? '')?.[3] ?? '').trim() !== '');
    if (scalars.length === 0) return text;
    const at = pick(rng, scalars);
    const line = lines[at] ?? '';
    const from = line.indexOf(':') + 2;
    const pos = from + int(rng, Math.max(1, line.length - from));
    lines[at] = line.slice(0, pos) + pick(rng, GARBAGE) + line.slice(pos);
    return lines.join('\n');
  },
  truncate(text, rng) {
    return text.slice(0, int(rng, text.length));
  },
  changeIndent(text, rng) {
    const lines = text.split('\n');
    const at = int(rng, lines.length);
    const line = lines[at] ?? '';
    const r = rng();
    lines[at] = r < 0.4 ? ' '.repeat(1 + int(rng, 4)) + line : r < 0.8 ? line.replace(/^ {1,4}/, '') : line.replace(/^ {2}/, '\t');
    return lines.join('\n');
  },
  unsetVariable(text, rng) {
    const lines = text.split('\n');
    const scalars = keyLines(lines).filter((i) => (KEY_LINE.exec(lines[i] ?? '')?.[3] ?? '').trim() !== '');
    if (scalars.length === 0) return text;
    const at = pick(rng, scalars);
    const [, lead = '', key = ''] = KEY_LINE.exec(lines[at] ?? '') ?? [];
    lines[at] = `${lead}${key}: ${pick(rng, ['${UNSET_VAR}', '"${UNSET_VAR}"', '"x-${UNSET_VAR}-y"', '${UNSET_VAR', '"${1BAD}"'])}`;
    return lines.join('\n');
  },
};

/** Applies 1–3 seeded mutations to `base`; the same seed always gives the same text. */
function mutate(base: string, seed: number): { text: string; applied: string[] } {
  const rng = mulberry32(seed);
  const names = Object.keys(MUTATIONS);
  const applied: string[] = [];
  let text = base;
  for (let n = 1 + int(rng, 3); n > 0; n--) {
    const name = pick(rng, names);
    applied.push(name);
    text = MUTATIONS[name]!(text, rng);
  }
  return { text, applied };
}

const CONFIG_CODES: readonly string[] = [ErrorCode.CONFIG_INVALID, ErrorCode.CONFIG_SYNTAX, ErrorCode.CONFIG_ENV, ErrorCode.CONFIG_READ];

/** Why the outcome of loading `text` is unacceptable, or undefined when it is clean. */
function problemWith(text: string): { outcome: string; problem?: string } {
  let error: unknown;
  try {
    // baseDir points nowhere, so a mutated `connectionsDir` can only yield a read error.
    const config = parseConfigText(text, { env: ENV, baseDir: '/nonexistent-twinlink-fuzz' });
    return Object.isFrozen(config) && Object.isFrozen(config.engine) ? { outcome: 'ok' } : { outcome: 'ok', problem: 'config is not deep-frozen' };
  } catch (caught) {
    error = caught;
  }
  if (!(error instanceof ConfigError)) {
    return { outcome: 'crash', problem: `not a ConfigError: ${(error as Error)?.stack ?? String(error)}` };
  }
  const outcome = error.code;
  if (!CONFIG_CODES.includes(error.code)) return { outcome, problem: `unexpected code ${error.code}` };
  const texts = [error.message, ...error.issues.map((i) => i.message), JSON.stringify(error)];
  if (texts.some((t) => t.includes('    at '))) return { outcome, problem: `stack trace in message:\n${error.message}` };
  // A truncated secret is still a leak: look for each secret's distinctive first 12 characters.
  const leaked = SECRETS.find((s) => texts.some((t) => t.includes(s.slice(0, 12))));
  if (leaked !== undefined) return { outcome, problem: `secret "${leaked}" in message:\n${error.message}` };
  if (error.issues.length === 0) return { outcome, problem: 'ConfigError without issues' };
  const unplaced = error.issues.find((i) => i.path === '' && i.line === undefined);
  if (unplaced) return { outcome, problem: `issue with neither path nor line: ${unplaced.message}` };
  return { outcome };
}

const BASE_SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const CASES_PER_BASE = 75;

const CONNECTION = (uri: string): string => `connections:
  - id: c
    connectionType: http-push
    uri: "${uri}"
    targets: [{ address: "POST:/x", topics: [_/_/things/twin/events], authorizationContext: ["integration:ditto"] }]
`;

/** Minimised inputs from earlier fuzzing runs that crashed the loader or leaked a secret. */
const REGRESSIONS: readonly (readonly [string, string])[] = [
  ['a section left empty (null, which defaults do not replace)', 'auth:\n'],
  ['an alias without an anchor', 'http:\n  host: *nohost\n'],
  ['a secret turned into an alias name', 'auth:\n  devops: { username: devops, password: *inline-devops-password-Mn34 }\n'],
  // (An unknown tag is only a YAML warning: this one loads, with password "x".)
  ['a secret turned into a tag', 'auth:\n  devops: { username: devops, password: !inline-devops-password-Mn34 x }\n'],
  ['a secret after a block scalar header', 'auth:\n  devops:\n    username: devops\n    password: >\uFFFDinline-devops-password-Mn34\n'],
  ['a uri with a mangled scheme', CONNECTION('htt`ps://user:${WEBHOOK_PASSWORD}@hooks.example.org/base')],
  ['a uri with garbage before the userinfo', CONNECTION('https://#user:${WEBHOOK_PASSWORD}@hooks.example.org/base')],
  ['a uri cut short inside the password', CONNECTION('https://hookuser:inline-uri-password-Pq56')],
  ['a block read as one string', 'auth:\n  users: "- username: ditto\\n  password: inline-alice-password-Xy12"\n'],
  ['an unquoted variable whose secret value reads as a YAML tag', 'auth:\n  devops:\n    username: devops\n    password: ${BANG_SECRET}\n'],
  ['a mapping used as a key', 'auth:\n  ? { devops: { username: devops, password: inline-devops-password-Mn34 } }\n  : 1\n'],
];

describe('config loader under fuzzing', () => {
  // Loading must not print: process warnings (the yaml library emits some) go to stderr unredacted.
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning.message);
  };
  before(() => process.on('warning', onWarning));
  after(() => process.off('warning', onWarning));
  afterEach(async () => {
    // process.emitWarning delivers on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings, 'process warnings emitted while loading').to.deep.equal([]);
  });

  it('loads every unmutated base config', () => {
    for (const [name, text] of BASES) expect(problemWith(text), name).to.deep.equal({ outcome: 'ok' });
  });

  it(`answers ${CASES_PER_BASE * BASES.length} mutated configs (seed ${BASE_SEED}) with a config or a clean coded ConfigError`, () => {
    const outcomes = new Map<string, number>();
    const failures: string[] = [];
    BASES.forEach(([name, base], b) => {
      // Case seeds come from a master generator, so different FUZZ_SEEDs give disjoint cases.
      const master = mulberry32(BASE_SEED * 31 + b);
      for (let i = 0; i < CASES_PER_BASE; i++) {
        const seed = Math.floor(master() * 4294967296);
        const { text, applied } = mutate(base, seed);
        const { outcome, problem } = problemWith(text);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (problem !== undefined && failures.length < 5) {
          failures.push(`base ${name}, case seed ${seed} (${applied.join(', ')}): ${problem}\n--- mutated text ---\n${text}\n--- end ---`);
        }
      }
    });
    expect(failures, failures.join('\n\n')).to.deep.equal([]);
    // The mutations must actually exercise every path: successes and each kind of failure.
    for (const kind of ['ok', ErrorCode.CONFIG_SYNTAX, ErrorCode.CONFIG_INVALID, ErrorCode.CONFIG_ENV]) {
      expect(outcomes.get(kind) ?? 0, `outcomes ${JSON.stringify([...outcomes])}`).to.be.greaterThan(5);
    }
  });

  for (const [what, text] of REGRESSIONS) {
    it(`answers ${what} with a config or a clean ConfigError`, () => {
      expect(problemWith(text).problem, text).to.equal(undefined);
    });
  }

  it('reproduces a case from its seed', () => {
    const [, base] = BASES[0]!;
    expect(mutate(base, 1234)).to.deep.equal(mutate(base, 1234));
    expect(mutate(base, 1234).text).not.to.equal(mutate(base, 1235).text);
  });
});
