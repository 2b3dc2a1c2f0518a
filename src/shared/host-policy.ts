/**
 * Ditto-style host filtering (`ditto.connectivity.connection.allowed-hostnames`, `blocked-hostnames`,
 * `blocked-subnets`) for connection URIs and token endpoints, so connections created over the API
 * cannot be pointed at internal services. Off while `engine.allowedHosts`, `engine.blockedHosts` and
 * `engine.blockedSubnets` are all empty (the default: loopback demos work out of the box). When any
 * is set, a host is refused after DNS resolution if it is not allowed and ANY of its addresses is
 * loopback, private, link-local, unspecified, multicast, in a blocked subnet or of a blocked host.
 *
 * The same rule runs twice: {@link HostPolicy.check} before a connection is opened or a token is
 * requested (a clear error early), and {@link HostPolicy.dnsLookup} as the socket's DNS lookup at
 * connect time (so a name that re-resolves to an internal address after the check — DNS rebinding —
 * is still refused, and no connection is ever attempted to it).
 */
import { promises as dns } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { HostBlockedError } from '../errors.ts';
import type { EngineSettings } from '../config/types.ts';

/** One resolved address, as `dns.promises.lookup(host, { all: true })` yields. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: number;
}

/** Resolves a host name to all its addresses; rejects (e.g. `ENOTFOUND`) when it cannot. */
export type HostLookup = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** The settings the policy reads: the three `engine` lists. */
export type HostPolicySettings = Pick<EngineSettings, 'allowedHosts' | 'blockedHosts' | 'blockedSubnets'>;

/** Options of {@link createHostPolicy}. */
export interface HostPolicyOptions {
  /** DNS resolution; default `dns.promises.lookup(host, { all: true, verbatim: true })`. Inject in tests. */
  readonly lookup?: HostLookup;
}

/** Why a host was refused (also {@link HostBlockedError.rule}). */
export type HostBlockRule =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unspecified'
  | 'multicast'
  | 'blocked-subnet'
  | 'blocked-host'
  | 'unresolvable'
  | 'invalid-url';

/** The host filter of one engine configuration. */
export interface HostPolicy {
  /** False when all three lists are empty: every check passes and `dnsLookup` just resolves. */
  readonly enabled: boolean;
  /**
   * Resolves when the host of `url` may be contacted; rejects with {@link HostBlockedError}
   * (`ERR_HOST_BLOCKED`) naming the host and the rule otherwise. The message never contains the
   * URL's userinfo, path or query.
   */
  check(url: string): Promise<void>;
  /** {@link HostPolicy.check} for a bare host name or address (no brackets needed for IPv6). */
  checkHost(host: string): Promise<void>;
  /**
   * A `net`-style lookup enforcing the same rule at connect time, usable as got's `dnsLookup`
   * option or as the `lookup` option of an `http(s).Agent` / `http.request`. Refusals reach the
   * request as a {@link HostBlockedError} (got copies its `code`, `ERR_HOST_BLOCKED`, onto its
   * `RequestError` and keeps it as `cause`). Node does not call a lookup for IP-literal hosts:
   * those are covered by {@link HostPolicy.check}.
   */
  readonly dnsLookup: LookupFunction;
}

// Fixed ranges refused whenever filtering is on, one list per rule so the error can say which.
const FIXED_RANGES: readonly (readonly [HostBlockRule, readonly (readonly [string, number])[]])[] = [
  ['loopback', [['127.0.0.0', 8], ['::1', 128]]],
  // 0.0.0.0/8 "this network": Linux connects 0.0.0.0 to the local host.
  ['unspecified', [['0.0.0.0', 8], ['::', 128]]],
  // RFC 1918, RFC 4193 unique-local, and the deprecated RFC 3879 site-local fec0::/10.
  ['private', [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['fc00::', 7], ['fec0::', 10]]],
  ['link-local', [['169.254.0.0', 16], ['fe80::', 10]]],
  ['multicast', [['224.0.0.0', 4], ['ff00::', 8]]],
];

const FIXED: readonly (readonly [HostBlockRule, BlockList])[] = FIXED_RANGES.map(([rule, ranges]) => {
  const list = new BlockList();
  for (const [network, prefix] of ranges) list.addSubnet(network, prefix, isIP(network) === 6 ? 'ipv6' : 'ipv4');
  return [rule, list] as const;
});

const DESCRIPTION: Readonly<Record<HostBlockRule, string>> = {
  loopback: 'a loopback address',
  private: 'a private address',
  'link-local': 'a link-local address',
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  'blocked-subnet': 'an address in engine.blockedSubnets',
  'blocked-host': 'an address of a host in engine.blockedHosts',
  unresolvable: 'unresolvable',
  'invalid-url': 'invalid',
};

const HINT = 'engine host filtering is on; list the host in engine.allowedHosts to permit it';

const defaultLookup: HostLookup = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/**
 * A host name as compared against the lists: lower-case (RFC 4343), no IPv6 brackets, no trailing
 * root dot, IP literals in canonical form (`0:0::1` → `::1`, `0x7f.1` → `127.0.0.1`).
 *
 * @example normalizeHost('[0:0::1]') // '::1'
 */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.') && h.length > 1) h = h.slice(0, -1);
  try {
    // The WHATWG parser canonicalises IP literals exactly as it does in request URLs.
    const canonical = new URL(`http://${isIP(h) === 6 ? `[${h}]` : h}/`).hostname;
    return canonical.startsWith('[') ? canonical.slice(1, -1) : canonical;
  } catch {
    return h;
  }
}

function addressType(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}

/**
 * Builds the host filter for `settings` (the `engine` section). Blocked host names are resolved
 * lazily on the first check and their addresses remembered; a name that fails to resolve is retried
 * on the next check.
 *
 * @example
 * const policy = createHostPolicy(config.engine);
 * await policy.check(connection.uri); // throws HostBlockedError (ERR_HOST_BLOCKED) when refused
 * got(url, { dnsLookup: policy.dnsLookup }); // the same rule again at connect time
 */
export function createHostPolicy(settings: HostPolicySettings, options: HostPolicyOptions = {}): HostPolicy {
  const lookup = options.lookup ?? defaultLookup;
  const enabled = settings.allowedHosts.length > 0 || settings.blockedHosts.length > 0 || settings.blockedSubnets.length > 0;
  const allowed = new Set(settings.allowedHosts.map(normalizeHost));
  const blockedNames = new Set(settings.blockedHosts.map(normalizeHost));

  const subnets = new BlockList();
  for (const cidr of settings.blockedSubnets) {
    // The schema has validated `ip[/prefix]`; a bare address is a single-host subnet.
    const [network = '', prefix] = cidr.trim().split('/');
    const type = addressType(network);
    subnets.addSubnet(network, prefix === undefined ? (type === 'ipv6' ? 128 : 32) : Number(prefix), type);
  }

  // Addresses of blocked hosts: literals at once, names once resolved.
  const blockedAddresses = new BlockList();
  const unresolvedNames = new Set<string>();
  for (const name of blockedNames) {
    if (isIP(name) !== 0) blockedAddresses.addAddress(name, addressType(name));
    else unresolvedNames.add(name);
  }
  let resolving: Promise<void> | undefined;
  const resolveBlockedNames = (): Promise<void> => {
    if (unresolvedNames.size === 0) return Promise.resolve();
    resolving ??= Promise.all(
      [...unresolvedNames].map(async (name) => {
        try {
          for (const { address } of await lookup(name)) blockedAddresses.addAddress(address, addressType(address));
          unresolvedNames.delete(name);
        } catch {
          // Like Ditto: an unresolvable blocked name blocks nothing by address (its name still matches).
        }
      }),
    ).then(() => {
      resolving = undefined;
    });
    return resolving;
  };

  /** The rule `address` breaks, if any. */
  const ruleFor = (address: string): HostBlockRule | undefined => {
    const type = addressType(address);
    for (const [rule, list] of FIXED) if (list.check(address, type)) return rule;
    if (subnets.check(address, type)) return 'blocked-subnet';
    if (blockedAddresses.check(address, type)) return 'blocked-host';
    return undefined;
  };

  const refuse = (host: string, rule: HostBlockRule, address: string): HostBlockedError => {
    const what = address === host ? `host "${host}" is ${DESCRIPTION[rule]}` : `host "${host}" resolves to ${address}, ${DESCRIPTION[rule]}`;
    return new HostBlockedError(`${what} (${HINT})`, { host, rule });
  };

  /** Refuses `host` by name; returns whether the address check is needed (false = allowed outright). */
  const checkName = (host: string): boolean => {
    if (!enabled || allowed.has(host)) return false;
    if (blockedNames.has(host)) throw new HostBlockedError(`host "${host}" is listed in engine.blockedHosts`, { host, rule: 'blocked-host' });
    return true;
  };

  const checkAddresses = async (host: string, addresses: readonly ResolvedAddress[]): Promise<void> => {
    await resolveBlockedNames();
    for (const { address } of addresses) {
      const rule = ruleFor(address);
      if (rule !== undefined) throw refuse(host, rule, address);
    }
  };

  /** All addresses of `host` (the literal itself for an IP), or a coded refusal when none. */
  const resolve = async (host: string): Promise<readonly ResolvedAddress[]> => {
    const family = isIP(host);
    if (family !== 0) return [{ address: host, family }];
    let addresses: readonly ResolvedAddress[];
    try {
      addresses = await lookup(host);
    } catch (error) {
      // Fail closed: what cannot be resolved cannot be shown to be safe.
      const code = (error as { code?: unknown } | null)?.code;
      throw new HostBlockedError(`host "${host}" cannot be resolved${typeof code === 'string' ? ` (${code})` : ''}`, { host, rule: 'unresolvable', cause: error });
    }
    if (addresses.length === 0) throw new HostBlockedError(`host "${host}" resolves to no address`, { host, rule: 'unresolvable' });
    return addresses;
  };

  const checkHost = async (rawHost: string): Promise<void> => {
    const host = normalizeHost(rawHost);
    if (!checkName(host)) return;
    await checkAddresses(host, await resolve(host));
  };

  const check = async (url: string): Promise<void> => {
    let hostname: string;
    try {
      hostname = new URL(url).hostname;
    } catch {
      // Never echo the text: it may carry userinfo or a query with secrets.
      throw new HostBlockedError('the URL is invalid, so its host cannot be checked', { rule: 'invalid-url' });
    }
    if (hostname === '') throw new HostBlockedError('the URL has no host', { rule: 'invalid-url' });
    await checkHost(hostname);
  };

  const dnsLookup: LookupFunction = (hostname, lookupOptions, callback) => {
    const host = normalizeHost(hostname);
    const run = async (): Promise<readonly ResolvedAddress[]> => {
      if (!checkName(host)) return lookup(hostname);
      const addresses = await resolve(host);
      // Every address is checked, not only those of the requested family: any bad one refuses the host.
      await checkAddresses(host, addresses);
      return addresses;
    };
    run().then(
      (all) => {
        const family = lookupOptions.family === 'IPv4' ? 4 : lookupOptions.family === 'IPv6' ? 6 : lookupOptions.family;
        const usable = family === 4 || family === 6 ? all.filter((a) => a.family === family) : all;
        const first = usable[0];
        if (first === undefined) {
          const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
          callback(error, lookupOptions.all ? [] : '', undefined);
        } else if (lookupOptions.all) callback(null, usable.map((a) => ({ address: a.address, family: a.family })));
        else callback(null, first.address, first.family);
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, lookupOptions.all ? [] : '', undefined),
    );
  };

  return { enabled, check, checkHost, dnsLookup };
}
