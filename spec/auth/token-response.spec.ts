import { expect } from 'chai';
import { bodyExcerpt, parseOAuthError, parseTokenResponse } from '../../src/auth/token-response.ts';
import { ErrorCode, TokenResponseError } from '../../src/errors.ts';
import { SEED_ACCESS_TOKEN, SEED_TOKEN_RESPONSE } from '../helpers/token-server.ts';

const json = 'application/json';
// null: no content-type header at all.
const answer = (body: unknown, contentType: string | null = json) => ({
  statusCode: 200,
  contentType: contentType ?? undefined,
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

function invalid(body: unknown, contentType: string | null = json): TokenResponseError {
  try {
    parseTokenResponse(answer(body, contentType), ['my-client-secret']);
  } catch (error) {
    expect(error).to.be.instanceOf(TokenResponseError);
    expect((error as TokenResponseError).code).to.equal(ErrorCode.TOKEN_RESPONSE_INVALID);
    return error as TokenResponseError;
  }
  throw new Error('expected the response to be rejected');
}

describe('token-response', () => {
  describe('parseTokenResponse', () => {
    it("accepts the seed's response", () => {
      expect(parseTokenResponse(answer(SEED_TOKEN_RESPONSE))).to.deep.equal({
        accessToken: SEED_ACCESS_TOKEN,
        tokenType: 'bearer',
        expiresIn: 1048576,
        scope: 'my-scope',
      });
    });

    it('accepts a JSON content type with a charset, token_type in any case and expires_in as a string', () => {
      const parsed = parseTokenResponse(answer({ access_token: 'opaque', token_type: 'BeArEr', expires_in: '3600' }, 'Application/JSON; charset=UTF-8'));
      expect(parsed).to.deep.equal({ accessToken: 'opaque', tokenType: 'BeArEr', expiresIn: 3600 });
    });

    it('accepts a response without token_type and expires_in', () => {
      expect(parseTokenResponse(answer({ access_token: 'x' }))).to.deep.equal({ accessToken: 'x' });
    });

    const cases: [string, unknown, string | null, RegExp][] = [
      ['an HTML page', '<html>oops</html>', 'text/html', /content type is "text\/html"/],
      ['a missing content type', { access_token: 'x' }, null, /content type is missing/],
      ['truncated JSON', '{"access_token":"abc', json, /not valid JSON/],
      ['an empty body', '', json, /the body is empty/],
      ['a JSON array', [{ access_token: 'x' }], json, /not a JSON object/],
      ['a missing access_token', { token_type: 'bearer' }, json, /access_token is missing/],
      ['an empty access_token', { access_token: '' }, json, /access_token is empty/],
      ['a numeric access_token', { access_token: 42 }, json, /access_token is a number/],
      ['an access_token with a line break', { access_token: 'a\r\nX-Evil: 1' }, json, /whitespace or control/],
      ['a mac token type', { access_token: 'x', token_type: 'mac' }, json, /token_type "mac" is not "bearer"/],
      ['a negative expires_in', { access_token: 'x', expires_in: -5 }, json, /expires_in "-5" is not a positive/],
      ['a non-numeric expires_in', { access_token: 'x', expires_in: 'soon' }, json, /expires_in/],
      ['a zero expires_in', { access_token: 'x', expires_in: 0 }, json, /expires_in/],
    ];
    for (const [what, body, contentType, message] of cases) {
      it(`rejects ${what} with ERR_TOKEN_RESPONSE_INVALID saying what was wrong`, () => {
        expect(invalid(body, contentType).message).to.match(message);
      });
    }

    it('never shows the token or the secret in the excerpt of a rejected body', () => {
      const error = invalid({ access_token: 'sup3r-s3cret-t0ken-value', token_type: 'mac', echo: 'my-client-secret' });
      expect(error.message).not.to.include('sup3r-s3cret-t0ken-value');
      const truncated = invalid(`{"access_token":"${SEED_ACCESS_TOKEN}","client_secret":"my-client-secret"`);
      expect(truncated.message).not.to.include(SEED_ACCESS_TOKEN.slice(0, 20));
      expect(truncated.message).not.to.include('my-client-secret');
      expect(JSON.stringify(truncated)).not.to.include('my-client-secret');
    });
  });

  describe('bodyExcerpt', () => {
    it('keeps short bodies readable, on one line, and cuts long ones', () => {
      expect(bodyExcerpt('<h1>Bad\nGateway</h1>')).to.equal('<h1>Bad Gateway</h1>');
      expect(bodyExcerpt('x '.repeat(500))).to.have.length.at.most(121);
    });
    it('redacts form-encoded tokens, JWT-shaped strings and long opaque runs', () => {
      const text = bodyExcerpt(`access_token=abc123&x=1 ${SEED_ACCESS_TOKEN} ${'A'.repeat(60)}`, [], 1000);
      expect(text).to.equal('access_token=[redacted]&x=1 [redacted] [redacted]');
    });
  });

  describe('parseOAuthError', () => {
    it('reads the RFC 6749 §5.2 fields', () => {
      expect(parseOAuthError('{"error":"invalid_client","error_description":"bad\\nsecret my-client-secret","error_uri":"https://e/x"}', ['my-client-secret']))
        .to.deep.equal({ error: 'invalid_client', errorDescription: 'bad secret [redacted]', errorUri: 'https://e/x' });
    });
    it('returns undefined for bodies without an error string', () => {
      expect(parseOAuthError('<html/>')).to.equal(undefined);
      expect(parseOAuthError('{"error":42}')).to.equal(undefined);
    });
  });
});
