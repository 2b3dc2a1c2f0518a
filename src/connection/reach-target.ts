/**
 * The reachability probe of a target: a TCP connect (and, for https, a complete TLS handshake with
 * the connection's `ca` / `validateCertificates`) that is closed again at once. No HTTP request is
 * sent. The connection machine runs it in `connecting` for https targets; the gateway's dry run
 * (`POST /api/2/connections?dry-run=true`) runs it for every target.
 */
import net from 'node:net';
import tls from 'node:tls';

/** Longest a connection's probe waits for the target, ms: a slow `idleTimeout` must not stall `connecting`. */
export const MAX_PROBE_TIMEOUT = 10_000;

export interface ReachTargetOptions {
  /** Time the target gets to accept the TCP connection and finish the TLS handshake, ms. */
  readonly timeout: number;
  /** PEM CA certificate(s) trusted in addition to the system's (the connection's `ca`). */
  readonly ca?: string;
  /** False: certificates are not verified (the connection's `validateCertificates`). */
  readonly validateCertificates: boolean;
  /** The engine host policy's `dnsLookup`, so a probe cannot reach a host the policy refuses. */
  readonly lookup?: net.LookupFunction;
  /** Aborting destroys the socket and rejects with reason `aborted`. */
  readonly signal?: AbortSignal;
}

/**
 * Opens a TCP connection to `url`'s host and port (TLS handshake included for https) and closes it
 * again. Rejects with an error whose `code` is the short reason: `ECONNREFUSED`, `ENOTFOUND`,
 * `timeout`, `aborted`, a certificate error (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
 * `DEPTH_ZERO_SELF_SIGNED_CERT`, `ERR_TLS_CERT_ALTNAME_INVALID`, …) or `ERR_HOST_BLOCKED`; see
 * {@link reachFailureReason}.
 *
 * @example
 * await reachTarget(new URL('https://hook.example:8443'), { timeout: 5000, validateCertificates: true, ca });
 */
export function reachTarget(url: URL, options: ReachTargetOptions): Promise<void> {
  const secure = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (secure ? 443 : 80));
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(coded('aborted'));
  return new Promise<void>((resolve, reject) => {
    const common = { host, port, ...(options.lookup ? { lookup: options.lookup } : {}) };
    const socket = secure
      ? tls.connect({
        ...common,
        // SNI only for names: RFC 6066 forbids IP literals there.
        ...(net.isIP(host) === 0 ? { servername: host } : {}),
        rejectUnauthorized: options.validateCertificates,
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
      })
      : net.connect(common);
    const timer = setTimeout(() => finish(coded('timeout')), options.timeout);
    const onAbort = (): void => finish(coded('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    function finish(error?: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    }
    socket.once(secure ? 'secureConnect' : 'connect', () => finish());
    socket.once('error', (error) => finish(error));
  });
}

/** `ECONNREFUSED`, `timeout`, `DEPTH_ZERO_SELF_SIGNED_CERT`, … or the message when there is no code. */
export function reachFailureReason(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.message : String(error);
}

function coded(code: string): Error {
  return Object.assign(new Error(code), { code });
}
