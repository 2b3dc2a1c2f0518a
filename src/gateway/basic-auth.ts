/**
 * HTTP Basic authentication for the gateway's APIs (RFC 7617): header parsing and password
 * checks against plain passwords or `scrypt$<salt>$<hash>` hashes, compared in constant time.
 */
import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

/** A configured account: exactly one of `password` / `passwordHash`. */
export interface PasswordAccount {
  readonly username: string;
  readonly password?: string;
  readonly passwordHash?: string;
}

/** Username and password from an `Authorization: Basic …` header. */
export interface BasicCredentials {
  readonly username: string;
  readonly password: string;
}

/** Parses `Authorization: Basic base64(user:password)`; undefined when absent or malformed. */
export function parseBasicAuthorization(header: string | undefined): BasicCredentials | undefined {
  if (!header) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Constant-time string equality (both sides hashed first, so lengths never leak). */
export function safeEqual(a: string, b: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Hashes a password into the `scrypt$<salt base64>$<hash base64>` form `passwordHash` accepts.
 *
 * @example await hashPassword('s3cret') // 'scrypt$…$…'
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32);
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Whether `password` matches the account's password or scrypt hash. */
export async function verifyPassword(account: Omit<PasswordAccount, 'username'>, password: string): Promise<boolean> {
  if (account.passwordHash !== undefined) {
    const [, salt, hash] = account.passwordHash.split('$');
    if (!salt || !hash) return false;
    const expected = Buffer.from(hash, 'base64');
    const actual = await scrypt(password, Buffer.from(salt, 'base64'), expected.length);
    return timingSafeEqual(actual, expected);
  }
  return account.password !== undefined && safeEqual(account.password, password);
}

/**
 * The account among `accounts` that the header authenticates, or undefined. Unknown users cost
 * the same comparison as known ones, so response times do not reveal which usernames exist.
 */
export async function authenticate<A extends PasswordAccount>(accounts: readonly A[], header: string | undefined): Promise<A | undefined> {
  const credentials = parseBasicAuthorization(header);
  if (!credentials) return undefined;
  let found: A | undefined;
  for (const account of accounts) if (safeEqual(account.username, credentials.username)) found = account;
  if (!found) {
    safeEqual('', credentials.password);
    return undefined;
  }
  return (await verifyPassword(found, credentials.password)) ? found : undefined;
}
