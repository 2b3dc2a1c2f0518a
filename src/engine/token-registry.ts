/**
 * One token actor per distinct credential, shared by every connection that uses it, so that many
 * connections with the same client cause one token request per refresh, not one each.
 * Reference-counted: the actor stops when its last connection releases it.
 */
import type { Logger } from 'pino';
import type { OAuth2Settings, OAuthClientCredentials } from '../config/types.ts';
import { createTokenActor, type TokenActor } from '../auth/token-actor.ts';
import { credentialKey } from '../auth/credential-key.ts';
import { endpointLabel } from '../auth/client-credentials.ts';
import type { Clock } from '../shared/clock.ts';
import type { HostPolicy } from '../shared/host-policy.ts';

interface Entry {
  readonly actor: TokenActor;
  /** Connection ids using the credential, in order of arrival. */
  readonly users: string[];
}

/** TLS settings that take part in a credential's identity (a different CA is a different client). */
export interface CredentialTls {
  readonly ca?: string;
  readonly validateCertificates: boolean;
}

export class TokenRegistry {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly settings: OAuth2Settings,
    private readonly deps: { readonly clock: Clock; readonly random: () => number; readonly logger?: Logger; readonly hostPolicy?: HostPolicy },
  ) {}

  /**
   * The shared actor for these credentials. The caller starts it (`actor.start()`, idempotent) once
   * it has subscribed to `events$`, so the first user sees the `initial` refresh and its request.
   * Pair with {@link release}.
   */
  acquire(credentials: OAuthClientCredentials, tls: CredentialTls, user: string): { readonly key: string; readonly actor: TokenActor } {
    const key = credentialKey(credentials, tls);
    let entry = this.#entries.get(key);
    if (!entry) {
      const actor = createTokenActor({
        credentials,
        settings: this.settings,
        tls,
        clock: this.deps.clock,
        random: this.deps.random,
        // The label drops userinfo, query and fragment, which could carry credentials.
        logger: this.deps.logger?.child({ tokenEndpoint: endpointLabel(credentials.tokenEndpoint), clientId: credentials.clientId }),
        ...(this.deps.hostPolicy ? { hostPolicy: this.deps.hostPolicy } : {}),
      });
      entry = { actor, users: [] };
      this.#entries.set(key, entry);
    }
    entry.users.push(user);
    return { key, actor: entry.actor };
  }

  /**
   * Whether `user` reports the credential's token metrics: the longest-standing user does, so one
   * token request counts once, not once per connection sharing it.
   */
  reports(key: string, user: string): boolean {
    return this.#entries.get(key)?.users[0] === user;
  }

  /** Drops one user of the credential; the last one stops its actor. */
  release(key: string, user: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    const index = entry.users.indexOf(user);
    if (index >= 0) entry.users.splice(index, 1);
    if (entry.users.length === 0) {
      entry.actor.stop();
      this.#entries.delete(key);
    }
  }

  /** Number of distinct credentials in use. */
  get size(): number {
    return this.#entries.size;
  }

  /** Stops every actor (engine shutdown). */
  stopAll(): void {
    for (const entry of this.#entries.values()) entry.actor.stop();
    this.#entries.clear();
  }
}
