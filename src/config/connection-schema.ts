/**
 * The zod schema of one Eclipse Ditto `http-push` connection (the JSON Ditto's connections API
 * takes, written as YAML or JSON), with twinlink's defaults filled in. Its output is exactly
 * {@link ConnectionConfig}. Rules that need engine settings (https token endpoints) live in
 * {@link checkTokenEndpointHttps}; everything else a connection can get wrong is checked here.
 */
import { z } from 'zod';
import type { ConnectionConfig, HttpVerb } from './types.ts';
import { duration, httpUrl, httpUrlProblem, integer, nonEmpty } from './schema-primitives.ts';
import { TwinlinkError } from '../errors.ts';
import { compileHeaderMapping } from '../pipeline/apply-header-mapping.ts';
import { compileAddress } from '../pipeline/resolve-address.ts';
import { parseTopicSubscription } from '../pipeline/target-topics.ts';
import { compileTemplate } from '../placeholders/compile-template.ts';

/** Verbs a target address may start with. */
export const HTTP_VERBS: readonly HttpVerb[] = ['POST', 'PUT', 'PATCH', 'GET', 'DELETE'];

/** Payload mappings that exist without a `mappingDefinitions` entry. */
export const BUILT_IN_MAPPINGS = ['Ditto', 'Normalized'] as const;

const ADDRESS_FORMAT = "Target address has invalid format. Expect '<VERB>:/<path>'";
const ADDRESS = new RegExp(`^(${HTTP_VERBS.join('|')}):(/.*)$`, 's');
const PLACEHOLDER = /\{\{.*?\}\}/gs;

/** The message of the coded error `compile` throws, or undefined when it compiles. */
function compileProblem(compile: () => unknown): string | undefined {
  try {
    compile();
    return undefined;
  } catch (error) {
    if (!(error instanceof TwinlinkError)) throw error;
    const position = (error as { position?: unknown }).position;
    return typeof position === 'number' && !error.message.includes('position') ? `${error.message} (at position ${position})` : error.message;
  }
}

/**
 * Why a target address is unusable, or undefined: Ditto's format rule, then its placeholders
 * (unknown names and functions are reported with their position).
 */
export function targetAddressProblem(address: string): string | undefined {
  const match = ADDRESS.exec(address);
  if (!match) return `${ADDRESS_FORMAT} with <VERB> one of ${HTTP_VERBS.join(', ')}`;
  if (/\s/.test((match[2] ?? '').replace(PLACEHOLDER, ''))) return `${ADDRESS_FORMAT}; the path must not contain whitespace outside {{ placeholders }}`;
  return compileProblem(() => compileAddress(address));
}

/**
 * Why a topic (with its optional `?namespaces=&filter=&extraFields=`) is unusable, or undefined.
 * The pipeline's own parser decides, so load-time and run-time rules cannot drift apart.
 */
export function topicProblem(topic: string): string | undefined {
  return compileProblem(() => parseTopicSubscription(topic));
}

/** RFC 6749 §3.3: `scope = scope-token *( SP scope-token )`, `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`. */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;

const credentialsSchema = z.strictObject({
  type: z.literal('oauth-client-credentials', { error: 'expected credentials type "oauth-client-credentials" (the only type http-push supports here)' }),
  tokenEndpoint: httpUrl('tokenEndpoint'),
  clientId: nonEmpty('a non-empty clientId'),
  clientSecret: nonEmpty('a non-empty clientSecret'),
  requestedScopes: z
    .string({ error: 'expected requestedScopes as a space-separated string of scopes' })
    .refine((s) => s === '' || SCOPE.test(s), {
      error: 'expected space-separated scope tokens (RFC 6749 §3.3: printable ASCII except space, " and \\, one space between tokens)',
    })
    .optional(),
  audience: nonEmpty('a non-empty audience').optional(),
  clientAuthenticationMethod: z
    .enum(['client_secret_post', 'client_secret_basic'], { error: 'expected client_secret_post or client_secret_basic' })
    .default('client_secret_post'),
});

const targetSchema = z.strictObject({
  address: z.string({ error: `${ADDRESS_FORMAT}` }).superRefine((address, ctx) => {
    const problem = targetAddressProblem(address);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  topics: z
    .array(
      z.string().superRefine((topic, ctx) => {
        const problem = topicProblem(topic);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    )
    .min(1, { error: 'expected at least one topic' }),
  authorizationContext: z.array(nonEmpty('a non-empty subject')).min(1, { error: 'expected at least one subject in authorizationContext' }),
  // Free-form by design (header name → value template), so not strict.
  headerMapping: z
    .record(z.string(), z.string({ error: 'expected a header value (string)' }))
    .superRefine((mapping, ctx) => {
      for (const [name, value] of Object.entries(mapping)) {
        const problem = compileProblem(() => compileHeaderMapping({ [name]: value }));
        if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [name] });
      }
    })
    .default({}),
  issuedAcknowledgementLabel: nonEmpty('a non-empty acknowledgement label')
    .superRefine((label, ctx) => {
      const problem = compileProblem(() => compileTemplate(label));
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  payloadMapping: z.array(nonEmpty('a mapping name')).default([]),
});

const mappingDefinitionSchema = z.strictObject({
  mappingEngine: nonEmpty('a mappingEngine name'),
  // Options belong to the mapping engine: not ours to restrict.
  options: z.record(z.string(), z.unknown()).default({}),
});

const verbList = z
  .union([z.string(), z.array(z.string())], { error: 'expected omitRequestBody as "GET,DELETE" or a list of verbs' })
  .transform((value, ctx): HttpVerb[] => {
    const parts = (typeof value === 'string' ? value.split(',') : value).map((v) => v.trim().toUpperCase()).filter((v) => v !== '');
    const bad = parts.filter((v) => !(HTTP_VERBS as readonly string[]).includes(v));
    if (bad.length > 0) ctx.addIssue({ code: 'custom', message: `unknown HTTP verb ${bad.map((b) => `"${b}"`).join(', ')} (expected ${HTTP_VERBS.join(', ')})` });
    return [...new Set(parts)] as HttpVerb[];
  });

const specificConfigSchema = z.strictObject({
  parallelism: integer({ min: 1 }).default(1),
  idleTimeout: duration({ max: 60_000 }).optional(),
  // Ditto's default: GET and DELETE go without a body; "" sends a body with every verb.
  omitRequestBody: verbList.default(['GET', 'DELETE']),
});

const ID = /^[A-Za-z0-9_.:-]{1,100}$/;

const connectionShape = z.strictObject({
  id: z.string({ error: 'expected a connection id' }).regex(ID, { error: 'expected a connection id of 1-100 characters from A-Z a-z 0-9 _ . : -' }),
  name: z.string().optional(),
  connectionType: z.literal('http-push', { error: 'expected connectionType "http-push" (the only type twinlink runs)' }),
  connectionStatus: z.enum(['open', 'closed'], { error: 'expected connectionStatus open or closed' }).default('open'),
  uri: httpUrl('uri'),
  validateCertificates: z.boolean().default(true),
  ca: nonEmpty('PEM certificate text').optional(),
  clientCount: integer({ min: 1 }).default(1),
  failoverEnabled: z.boolean().default(true),
  tags: z.array(z.string()).default([]),
  sources: z.array(z.unknown()).max(0, { error: 'an http-push connection has no sources (expected [])' }).default([]),
  targets: z.array(targetSchema).default([]),
  mappingDefinitions: z.record(z.string(), mappingDefinitionSchema).default({}),
  specificConfig: specificConfigSchema.prefault({}),
  credentials: credentialsSchema.optional(),
});

/** Reads `obj[key]` of a value that may not have passed the schema (refinements run regardless). */
function field(obj: unknown, key: string): unknown {
  return typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[key] : undefined;
}

/** Acknowledgement-label prefixes Ditto accepts: the connection id, literally or as a placeholder. */
const ACK_PLACEHOLDER_PREFIX = /^\{\{\s*connection:id\s*\}\}:./s;

/**
 * One Ditto http-push connection. Cross-field rules (acknowledgement label prefix, payload mapping
 * names) run even when other fields are wrong, so all problems are reported at once.
 */
export const connectionSchema = connectionShape.superRefine(
  (conn, ctx) => {
    const id = field(conn, 'id');
    const mappings = field(conn, 'mappingDefinitions');
    const targets = field(conn, 'targets');
    if (!Array.isArray(targets)) return;
    targets.forEach((target: unknown, t) => {
      const label = field(target, 'issuedAcknowledgementLabel');
      if (typeof label === 'string' && label.trim() !== '') {
        const ok = ACK_PLACEHOLDER_PREFIX.test(label) || (typeof id === 'string' && label.startsWith(`${id}:`) && label.length > id.length + 1);
        if (!ok) {
          ctx.addIssue({
            code: 'custom',
            path: ['targets', t, 'issuedAcknowledgementLabel'],
            message: `expected the label to start with the connection id ("${String(id)}:") or "{{connection:id}}:" followed by a name`,
          });
        }
      }
      const used = field(target, 'payloadMapping');
      if (!Array.isArray(used)) return;
      used.forEach((name: unknown, m) => {
        if (typeof name !== 'string' || (BUILT_IN_MAPPINGS as readonly string[]).includes(name)) return;
        if (typeof mappings === 'object' && mappings !== null && Object.hasOwn(mappings, name)) return;
        const known = [...BUILT_IN_MAPPINGS, ...(typeof mappings === 'object' && mappings !== null ? Object.keys(mappings) : [])];
        ctx.addIssue({
          code: 'custom',
          path: ['targets', t, 'payloadMapping', m],
          message: `payload mapping "${name}" is not defined (expected one of ${known.join(', ')}; define it under mappingDefinitions)`,
        });
      });
    });
  },
  { when: () => true },
);

/**
 * Adds an issue when a connection's token endpoint is plain http while `enforceHttps` is on.
 * `path` is where the connection sits (`['connections', 0]`, or `[]` for a single connection).
 */
export function checkTokenEndpointHttps(conn: unknown, enforceHttps: boolean, ctx: z.RefinementCtx, path: (string | number)[]): void {
  if (!enforceHttps) return;
  const endpoint = field(field(conn, 'credentials'), 'tokenEndpoint');
  if (typeof endpoint !== 'string' || httpUrlProblem(endpoint) || !endpoint.toLowerCase().startsWith('http:')) return;
  ctx.addIssue({
    code: 'custom',
    path: [...path, 'credentials', 'tokenEndpoint'],
    message:
      'tokenEndpoint must use https: the client secret and the tokens would travel unencrypted. ' +
      'To allow plain http anyway (unsafe; for local development only) set engine.oauth2.enforceHttps: false',
  });
}

/** Connection ids must be unique; adds an issue at every repeated id. */
export function checkUniqueIds(connections: unknown, ctx: z.RefinementCtx, path: (string | number)[]): void {
  if (!Array.isArray(connections)) return;
  const first = new Map<string, number>();
  connections.forEach((conn: unknown, i) => {
    const id = field(conn, 'id');
    if (typeof id !== 'string') return;
    const earlier = first.get(id);
    if (earlier === undefined) first.set(id, i);
    else ctx.addIssue({ code: 'custom', path: [...path, i, 'id'], message: `duplicate connection id "${id}" (already used by ${path.join('.')}[${earlier}])` });
  });
}

// Compile-time proof that the schema produces exactly what components consume.
const _connectionCheck: z.ZodType<ConnectionConfig> = connectionSchema;
