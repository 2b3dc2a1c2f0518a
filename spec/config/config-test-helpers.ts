/** Helpers shared by the config specs: run a loader call and get its ConfigError, locate text. */
import { expect } from 'chai';
import { ConfigError } from '../../src/errors.ts';
import type { ConfigIssue, ErrorCode } from '../../src/errors.ts';

/** Runs `fn`, asserts it throws a ConfigError with `code`, and returns the error. */
export function configError(fn: () => unknown, code: ErrorCode): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).code, (error as Error).message).to.equal(code);
    return error as ConfigError;
  }
  expect.fail(`expected a ConfigError ${code}, but nothing was thrown`);
}

/** Same for promises. */
export async function configErrorAsync(promise: Promise<unknown>, code: ErrorCode): Promise<ConfigError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).code, (error as Error).message).to.equal(code);
    return error as ConfigError;
  }
  expect.fail(`expected a ConfigError ${code}, but nothing was thrown`);
}

/** The only issue at `path`. */
export function issueAt(error: ConfigError, path: string): ConfigIssue {
  const found = error.issues.filter((i) => i.path === path);
  expect(found, `issues at ${path} in:\n${error.message}`).to.have.length(1);
  return found[0]!;
}

/** 1-based line and column of the `nth` (0-based) occurrence of `needle` in `text`. */
export function positionOf(text: string, needle: string, nth = 0): { line: number; column: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) throw new Error(`"${needle}" not found ${nth + 1} times`);
  }
  const before = text.slice(0, at).split('\n');
  return { line: before.length, column: (before[before.length - 1] ?? '').length + 1 };
}
