import { inspect } from 'node:util';
import { expect } from 'chai';
import { ErrorCode, TokenEndpointError } from '../../src/errors.ts';
import { safeCause } from '../../src/shared/safe-cause.ts';

/** Shaped like got's RequestError: request options with an Authorization header, a response. */
function gotLikeError(): Error {
  const error = Object.assign(new Error('read ECONNRESET'), {
    code: 'ECONNRESET',
    syscall: 'read',
    options: { headers: { authorization: 'Bearer tok-secret' }, body: 'client_secret=s3cret' },
    response: { body: 'tok-secret' },
  });
  error.name = 'RequestError';
  Object.defineProperty(error, 'cause', { value: Object.assign(new Error('inner'), { code: 'ECONNRESET', config: { password: 'pw-secret' } }), enumerable: false });
  return error;
}

describe('safeCause', () => {
  it('keeps name, message, stack and network fields, and drops request options and responses', () => {
    const original = gotLikeError();
    const safe = safeCause(original) as Error & Record<string, unknown>;
    expect(safe).to.be.instanceOf(Error);
    expect(safe).to.include({ name: 'RequestError', message: 'read ECONNRESET', code: 'ECONNRESET', syscall: 'read', stack: original.stack });
    expect(safe['options']).to.equal(undefined);
    expect(safe['response']).to.equal(undefined);
    expect((safe.cause as Error & { code?: string }).code).to.equal('ECONNRESET');
    const shown = inspect(new TokenEndpointError('token request failed', { cause: safe }), { depth: 8 });
    for (const secret of ['tok-secret', 's3cret', 'pw-secret']) expect(shown).not.to.include(secret);
  });

  it('passes twinlink errors and non-errors through unchanged', () => {
    const coded = new TokenEndpointError('x');
    expect(safeCause(coded)).to.equal(coded);
    expect((safeCause(coded) as TokenEndpointError).code).to.equal(ErrorCode.TOKEN_ENDPOINT);
    expect(safeCause('text')).to.equal('text');
    expect(safeCause(undefined)).to.equal(undefined);
  });
});
