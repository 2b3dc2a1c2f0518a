/**
 * Small zod building blocks shared by the connection and config schemas: durations, integers that
 * may arrive as strings (Ditto's `specificConfig` is a string map), non-empty strings, http(s) URLs.
 * Each one's input side stays JSON-Schema representable, so `z.toJSONSchema` can describe the file.
 */
import { z } from 'zod';
import { parseDuration } from '../shared/duration.ts';

/** What a duration looks like in the file (mirrors `parseDuration`). */
export const DURATION_PATTERN = /^\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)?\s*$/;

const DURATION_HINT = 'expected a duration such as 250ms, 60s, 5m, 1h, or a number of milliseconds';

/**
 * A duration written as `250ms`, `60s`, `5m`, `1h`, `2d` or a number of milliseconds, parsed to ms,
 * optionally bounded (bounds in ms).
 *
 * @example duration({ max: 60_000 }).parse('5s') // 5000
 */
export function duration(bounds: { min?: number; max?: number } = {}) {
  return z
    .union([z.number().nonnegative({ error: DURATION_HINT }), z.string().regex(DURATION_PATTERN, { error: DURATION_HINT })], {
      error: DURATION_HINT,
    })
    .transform((value, ctx) => {
      const ms = parseDuration(value) ?? 0;
      const { min = 0, max } = bounds;
      if (ms < min || (max !== undefined && ms > max)) {
        const range = max === undefined ? `at least ${ms2text(min)}` : `between ${ms2text(min)} and ${ms2text(max)}`;
        ctx.addIssue({ code: 'custom', message: `expected a duration ${range}` });
      }
      return ms;
    });
}

function ms2text(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const INTEGER_TEXT = /^\s*[+-]?\d+\s*$/;

/**
 * An integer in `[min, max]`, given as a number or (as Ditto allows in `specificConfig`) a numeric string.
 *
 * @example integer({ min: 1 }).parse('4') // 4
 */
export function integer(bounds: { min?: number; max?: number } = {}) {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = bounds;
  const hint = max === Number.MAX_SAFE_INTEGER ? `expected an integer ≥ ${min}` : `expected an integer from ${min} to ${max}`;
  return z
    .union([z.number().int({ error: hint }).min(min, { error: hint }).max(max, { error: hint }), z.string().regex(INTEGER_TEXT, { error: hint })], {
      error: hint,
    })
    .transform((value, ctx) => {
      const n = typeof value === 'number' ? value : Number(value.trim());
      if (n < min || n > max) ctx.addIssue({ code: 'custom', message: hint });
      return n;
    });
}

/** A string with at least one non-blank character. */
export function nonEmpty(what = 'a non-empty string') {
  return z.string({ error: `expected ${what}` }).regex(/\S/, { error: `expected ${what}` });
}

/**
 * An absolute `http:` or `https:` URL with a host. `what` names the field in the message.
 *
 * @example httpUrl('uri').parse('https://example.org:443')
 */
export function httpUrl(what: string) {
  return z.string({ error: `expected ${what} as an http(s) URL` }).superRefine((value, ctx) => {
    const problem = httpUrlProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `${what} ${problem}` });
  });
}

/** Why `value` is not a usable http(s) URL, or undefined when it is. */
export function httpUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a valid URL (expected http://host[:port][/path] or https://…)';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must use http or https (found scheme "${url.protocol.slice(0, -1)}")`;
  if (!url.hostname) return 'must name a host';
  return undefined;
}

/** The HTTP status codes a retry or refusal list may contain. */
export const httpStatus = z.number({ error: 'expected an HTTP status code (100-599)' }).int().min(100).max(599);
