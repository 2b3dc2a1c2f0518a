import { expect } from 'chai';
import { jwtExpiry, tokenExpiresAt } from '../../src/auth/jwt-expiry.ts';
import { SEED_ACCESS_TOKEN, makeJwt } from '../helpers/token-server.ts';

describe('jwt-expiry', () => {
  describe('jwtExpiry', () => {
    it("reads the seed token's exp claim (1 January 3000) although it is plain base64", () => {
      expect(jwtExpiry(SEED_ACCESS_TOKEN)).to.equal(Date.UTC(3000, 0, 1));
    });

    it('reads exp from a base64url JWT and converts seconds to milliseconds', () => {
      expect(jwtExpiry(makeJwt({ exp: 1_700_000_000, sub: 'ü/?>' }))).to.equal(1_700_000_000_000);
    });

    const notJwts: [string, string][] = [
      ['an opaque token', 'mF_9.B5f-4.1JqM'],
      ['a token without dots', 'abcdef'],
      ['a five-segment JWE', 'a.b.c.d.e'],
      ['a JWT without exp', makeJwt({ sub: 'x' })],
      ['a JWT whose exp is a string', makeJwt({ exp: '1700000000' })],
      ['a JWT whose payload is an array', `${makeJwt({}).split('.')[0]}.${Buffer.from('[1]').toString('base64url')}.x`],
      ['a JWT with a non-JSON payload', `eyJhbGciOiJub25lIn0.${Buffer.from('not json').toString('base64url')}.x`],
      ['a JWT with an absurd exp', makeJwt({ exp: 1e300 })],
    ];
    for (const [what, token] of notJwts) {
      it(`returns undefined for ${what}`, () => {
        expect(jwtExpiry(token)).to.equal(undefined);
      });
    }
  });

  describe('tokenExpiresAt', () => {
    const now = 1_000_000;
    it('uses exp for a JWT without expires_in', () => {
      expect(tokenExpiresAt({ accessToken: makeJwt({ exp: 5_000 }) }, now, 60_000)).to.equal(5_000_000);
    });
    it('uses expires_in for an opaque token', () => {
      expect(tokenExpiresAt({ accessToken: 'opaque', expiresIn: 30 }, now, 60_000)).to.equal(now + 30_000);
    });
    it('uses the default lifetime when neither exists', () => {
      expect(tokenExpiresAt({ accessToken: 'opaque' }, now, 60_000)).to.equal(now + 60_000);
    });
    it('takes the earlier of exp and expires_in (the seed: expires_in wins over the year 3000)', () => {
      expect(tokenExpiresAt({ accessToken: SEED_ACCESS_TOKEN, expiresIn: 1048576 }, now, 60_000)).to.equal(now + 1048576_000);
      expect(tokenExpiresAt({ accessToken: makeJwt({ exp: 1_010 }), expiresIn: 3600 }, now, 60_000)).to.equal(1_010_000);
    });
  });
});
