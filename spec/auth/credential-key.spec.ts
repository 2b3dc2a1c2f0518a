import { expect } from 'chai';
import { credentialKey } from '../../src/auth/credential-key.ts';
import { seedCredentials } from './fixtures.ts';

describe('credentialKey', () => {
  const tls = { validateCertificates: true };
  const base = seedCredentials('https://idp/token');

  it('is equal for the same credential, whatever the scope whitespace', () => {
    expect(credentialKey(base, tls)).to.equal(credentialKey({ ...base, requestedScopes: '  my-scope ' }, { ...tls }));
  });

  const variants: [string, Parameters<typeof credentialKey>][] = [
    ['token endpoint', [{ ...base, tokenEndpoint: 'https://idp/other' }, tls]],
    ['client id', [{ ...base, clientId: 'other' }, tls]],
    ['client secret', [{ ...base, clientSecret: 'other' }, tls]],
    ['scope', [{ ...base, requestedScopes: 'my-scope other' }, tls]],
    ['audience', [{ ...base, audience: 'aud' }, tls]],
    ['auth method', [{ ...base, clientAuthenticationMethod: 'client_secret_basic' }, tls]],
    ['certificate validation', [base, { validateCertificates: false }]],
    ['CA', [base, { ...tls, ca: '-----BEGIN CERTIFICATE-----x' }]],
  ];
  for (const [what, args] of variants) {
    it(`differs when the ${what} differs`, () => {
      expect(credentialKey(...args)).not.to.equal(credentialKey(base, tls));
    });
  }

  it('does not contain the secret', () => {
    expect(credentialKey(base, tls)).not.to.include('my-client-secret');
  });
});
