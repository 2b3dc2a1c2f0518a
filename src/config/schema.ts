/**
 * The zod schema of the whole twinlink configuration file. Parsing fills every default, turns
 * durations into milliseconds and yields exactly {@link TwinlinkConfig} (checked at compile time
 * below). Unknown keys are rejected everywhere except inside `headerMapping`, `tags` and mapping
 * `options`. `npm run schema` turns the input side of this schema into `config/twinlink.schema.json`.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { EngineSettings, TwinlinkConfig } from './types.ts';
import { checkTokenEndpointHttps, checkUniqueIds, connectionSchema } from './connection-schema.ts';
import { duration, httpStatus, integer, nonEmpty } from './schema-primitives.ts';

const backoffSchema = z
  .strictObject({
    initialDelay: duration({ min: 1 }).default(1000),
    maxDelay: duration({ min: 1 }).default(300_000),
  })
  .superRefine((b, ctx) => {
    if (b.initialDelay > b.maxDelay) ctx.addIssue({ code: 'custom', path: ['maxDelay'], message: 'expected maxDelay ≥ initialDelay' });
  });

const oauth2Schema = z.strictObject({
  enforceHttps: z.boolean().default(true),
  maxClockSkew: duration().default(60_000),
  requestTimeout: duration({ min: 1 }).default(10_000),
  defaultTokenLifetime: duration({ min: 1000 }).default(3_600_000),
  tokenWaitTimeout: duration({ min: 1 }).default(30_000),
  unauthorizedStatuses: z.array(httpStatus).default([401]),
  maxResponseBytes: integer({ min: 1 }).default(65_536),
  backoff: backoffSchema.prefault({}),
  misconfiguredRetryDelay: duration({ min: 1 }).default(3_600_000),
});

const retrySchema = z
  .strictObject({
    maxAttempts: integer({ min: 1 }).default(5),
    initialDelay: duration({ min: 1 }).default(500),
    maxDelay: duration({ min: 1 }).default(30_000),
    statuses: z.array(httpStatus).default([429, 502, 503, 504]),
  })
  .superRefine((r, ctx) => {
    if (r.initialDelay > r.maxDelay) ctx.addIssue({ code: 'custom', path: ['maxDelay'], message: 'expected maxDelay ≥ initialDelay' });
  });

const httpPushSchema = z.strictObject({
  maxQueueSize: integer({ min: 1 }).default(1000),
  requestTimeout: duration({ min: 1 }).default(60_000),
  overflow: z.enum(['drop-newest', 'drop-oldest'], { error: 'expected overflow drop-newest or drop-oldest' }).default('drop-newest'),
  retry: retrySchema.prefault({}),
  circuitBreakerThreshold: integer({ min: 1 }).default(20),
  maxResponseBytes: integer({ min: 1 }).default(1_048_576),
});

const subnet = z.string().superRefine((value, ctx) => {
  const [ip = '', prefix, ...rest] = value.split('/');
  const family = isIP(ip);
  const bits = family === 4 ? 32 : 128;
  const ok = family !== 0 && rest.length === 0 && (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits));
  if (!ok) ctx.addIssue({ code: 'custom', message: 'expected a subnet in CIDR notation such as 10.0.0.0/8 or fd00::/8' });
});

/** `engine`: settings shared by all connections. */
export const engineSettingsSchema = z.strictObject({
  oauth2: oauth2Schema.prefault({}),
  httpPush: httpPushSchema.prefault({}),
  connectionLogs: z
    .strictObject({
      successCapacity: integer({ min: 0 }).default(10),
      failureCapacity: integer({ min: 0 }).default(40),
    })
    .prefault({}),
  allowedHosts: z.array(nonEmpty('a host name')).default([]),
  blockedHosts: z.array(nonEmpty('a host name')).default([]),
  blockedSubnets: z.array(subnet).default([]),
});

/** `scrypt$<salt base64>$<hash base64>` as produced with Node's `crypto.scrypt`. */
export const PASSWORD_HASH = /^scrypt\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/;

const passwordFields = {
  password: nonEmpty('a non-empty password').optional(),
  passwordHash: z.string().regex(PASSWORD_HASH, { error: 'expected passwordHash as scrypt$<salt base64>$<hash base64>' }).optional(),
};

function exactlyOnePassword(user: { password?: string; passwordHash?: string }, ctx: z.RefinementCtx): void {
  const given = [user.password, user.passwordHash].filter((v) => v !== undefined).length;
  if (given !== 1) {
    ctx.addIssue({
      code: 'custom',
      path: given === 0 ? [] : ['passwordHash'],
      message: given === 0 ? 'expected exactly one of password or passwordHash (found neither)' : 'expected exactly one of password or passwordHash (found both)',
    });
  }
}

const userSchema = z
  .strictObject({ username: nonEmpty('a non-empty username'), ...passwordFields, subject: nonEmpty('a non-empty subject such as nginx:ditto').optional() })
  .superRefine(exactlyOnePassword)
  // Ditto behind nginx names Basic-auth users `nginx:<username>`; the same default keeps policies portable.
  .transform((u) => ({ ...u, subject: u.subject ?? `nginx:${u.username}` }));

const devopsSchema = z.strictObject({ username: nonEmpty('a non-empty username'), ...passwordFields }).superRefine(exactlyOnePassword);

const authSchema = z
  .strictObject({
    users: z.array(userSchema).default([]),
    devops: devopsSchema.default({ username: 'devops', password: 'foobar' }),
  })
  .superRefine(
    (auth, ctx) => {
      const seen = new Set<string>();
      // Runs on invalid input too (`when`): `auth:` with no value arrives here as null.
      const users: unknown = typeof auth === 'object' && auth !== null ? (auth as { users?: unknown }).users : undefined;
      (Array.isArray(users) ? (users as unknown[]) : []).forEach((u, i) => {
        const name = typeof u === 'object' && u !== null ? (u as { username?: unknown }).username : undefined;
        if (typeof name !== 'string') return;
        if (seen.has(name)) ctx.addIssue({ code: 'custom', path: ['users', i, 'username'], message: `duplicate username "${name}"` });
        seen.add(name);
      });
    },
    { when: () => true },
  );

const demoSchema = z.strictObject({
  enabled: z.boolean().default(true),
  host: nonEmpty('a host name or address').default('127.0.0.1'),
  port: integer({ max: 65_535 }).default(0),
  clientId: nonEmpty('a non-empty clientId').default('my-client-id'),
  clientSecret: nonEmpty('a non-empty clientSecret').default('my-client-secret'),
  tokenLifetime: duration({ min: 1000 }).default(300_000),
});

/** The whole configuration file. */
export const twinlinkConfigSchema = z
  .strictObject({
    http: z
      .strictObject({
        host: nonEmpty('a host name or address').default('127.0.0.1'),
        port: integer({ max: 65_535 }).default(8080),
      })
      .prefault({}),
    auth: authSchema.prefault({}),
    things: z.strictObject({ defaultNamespace: nonEmpty('a namespace such as org.eclipse.ditto').default('org.eclipse.ditto') }).prefault({}),
    engine: engineSettingsSchema.prefault({}),
    connections: z.array(connectionSchema).default([]),
    connectionsDir: nonEmpty('a directory path').optional(),
    demo: demoSchema.optional(),
  })
  .superRefine(
    (config, ctx) => {
      const oauth2 = (config.engine as { oauth2?: { enforceHttps?: unknown } } | undefined)?.oauth2;
      const enforceHttps = oauth2?.enforceHttps !== false;
      const connections: unknown = config.connections;
      if (Array.isArray(connections)) connections.forEach((c: unknown, i) => checkTokenEndpointHttps(c, enforceHttps, ctx, ['connections', i]));
      checkUniqueIds(connections, ctx, ['connections']);
    },
    { when: () => true },
  );

/**
 * The engine settings with every default, as a file without an `engine` section yields.
 *
 * @example defaultEngineSettings().oauth2.maxClockSkew // 60000
 */
export function defaultEngineSettings(): EngineSettings {
  return engineSettingsSchema.parse({});
}

/** A single connection checked against the given engine settings (https token endpoints). */
export function connectionSchemaFor(settings: EngineSettings) {
  return connectionSchema.superRefine((c, ctx) => checkTokenEndpointHttps(c, settings.oauth2.enforceHttps, ctx, []), { when: () => true });
}

// Compile-time proof that the parsed file is exactly what components consume.
const _configCheck: z.ZodType<TwinlinkConfig> = twinlinkConfigSchema;
const _engineCheck: z.ZodType<EngineSettings> = engineSettingsSchema;
