import { expect } from 'chai';
import { DittoApiError } from '../../src/things/ditto-api-error.ts';
import { defaultPolicy, hasPartialPermission, hasPermission, parsePolicy, readSubjects, readableView } from '../../src/things/policy.ts';
import type { Permission } from '../../src/things/policy.ts';

// The seed's policy, as sent in `_policy`.
const seedPolicy = {
  entries: {
    DEFAULT: {
      subjects: { '{{ request:subjectId }}': { type: 'the creator' }, 'integration:ditto': { type: 'the connection' } },
      resources: { 'policy:/': { grant: ['READ', 'WRITE'], revoke: [] }, 'thing:/': { grant: ['READ', 'WRITE'], revoke: [] } },
    },
  },
};

const layered = parsePolicy({
  entries: {
    OWNER: { subjects: { 'nginx:owner': {} }, resources: { 'thing:/': { grant: ['READ', 'WRITE'] }, 'policy:/': { grant: ['READ', 'WRITE'] } } },
    READER: {
      subjects: { 'nginx:reader': {} },
      resources: { 'thing:/': { grant: ['READ'], revoke: [] }, 'thing:/attributes/secret': { grant: [], revoke: ['READ'] } },
    },
    PARTIAL: { subjects: { 'nginx:partial': {} }, resources: { 'thing:/attributes/public': { grant: ['READ'], revoke: [] } } },
    REVOKED_ABOVE: {
      subjects: { 'nginx:blocked': {} },
      resources: { 'thing:/features': { grant: [], revoke: ['READ'] }, 'thing:/features/lamp': { grant: ['READ'], revoke: [] } },
    },
    SPLIT_REVOKE: { subjects: { 'nginx:reader': {} }, resources: { 'thing:/attributes/owner-only/': { grant: [], revoke: ['WRITE'] } } },
  },
}, 'org.acme:thing', 'nginx:owner');

describe('policy', () => {
  describe('parsePolicy', () => {
    it('resolves {{ request:subjectId }} to the caller and normalises resource keys', () => {
      const policy = parsePolicy(seedPolicy, 'org.acme:lamp', 'nginx:ditto');
      expect(policy.policyId).to.equal('org.acme:lamp');
      expect(Object.keys(policy.entries.DEFAULT!.subjects)).to.deep.equal(['nginx:ditto', 'integration:ditto']);
      expect(Object.keys(layered.entries.SPLIT_REVOKE!.resources)).to.deep.equal(['thing:/attributes/owner-only']);
    });

    it('accepts the placeholder without spaces too', () => {
      const policy = parsePolicy({ entries: { E: { subjects: { '{{request:subjectId}}': {} }, resources: { 'policy:/': { grant: ['WRITE'] } } } } }, 'a:b', 'nginx:me');
      expect(Object.keys(policy.entries.E!.subjects)).to.deep.equal(['nginx:me']);
    });

    const invalid: [string, unknown][] = [
      ['no entries', {}],
      ['an entry without resources', { entries: { E: { subjects: { 'a:b': {} } } } }],
      ['an unknown resource type', { entries: { E: { subjects: { 'a:b': {} }, resources: { 'device:/': { grant: ['READ'] }, 'policy:/': { grant: ['WRITE'] } } } } }],
      ['an unknown permission', { entries: { E: { subjects: { 'a:b': {} }, resources: { 'policy:/': { grant: ['WRITE', 'EXECUTE'] } } } } }],
      ['nobody left with WRITE on policy:/', { entries: { E: { subjects: { 'a:b': {} }, resources: { 'thing:/': { grant: ['READ', 'WRITE'] } } } } }],
    ];
    for (const [what, raw] of invalid) {
      it(`rejects a policy with ${what} as 400 policies:policy.invalid`, () => {
        expect(() => parsePolicy(raw, 'a:b', 'nginx:me')).to.throw(DittoApiError).that.satisfies((e: DittoApiError) =>
          e.status === 400 && e.error === 'policies:policy.invalid' && e.code === 'ERR_HTTP_API');
      });
    }
  });

  describe('hasPermission', () => {
    const table: [string, string, Permission, boolean][] = [
      ['nginx:owner', 'thing:/', 'WRITE', true],
      ['nginx:owner', 'thing:/attributes/secret', 'READ', true],
      ['nginx:reader', 'thing:/', 'READ', true],
      ['nginx:reader', 'thing:/', 'WRITE', false],
      ['nginx:reader', 'thing:/attributes/location', 'READ', true],
      ['nginx:reader', 'thing:/attributes/secret', 'READ', false],
      ['nginx:reader', 'thing:/attributes/secret/deeper', 'READ', false],
      ['nginx:reader', 'policy:/', 'READ', false],
      ['nginx:partial', 'thing:/', 'READ', false],
      ['nginx:partial', 'thing:/attributes/public', 'READ', true],
      ['nginx:partial', 'thing:/attributes/public/x', 'READ', true],
      ['nginx:partial', 'thing:/attributes/publicity', 'READ', false],
      // A revoke above beats a grant below.
      ['nginx:blocked', 'thing:/features/lamp', 'READ', false],
      ['nginx:nobody', 'thing:/', 'READ', false],
      ['nginx:owner', 'message:/', 'READ', false],
      ['nginx:owner', 'not-a-resource', 'READ', false],
    ];
    for (const [subject, resource, permission, expected] of table) {
      it(`${expected ? 'grants' : 'denies'} ${subject} ${permission} on ${resource}`, () => {
        expect(hasPermission(layered, [subject], resource, permission)).to.equal(expected);
      });
    }

    it('lets a revoke from one entry beat a grant from another entry for the same subject', () => {
      const policy = parsePolicy({
        entries: {
          A: { subjects: { 'x:y': {} }, resources: { 'thing:/': { grant: ['READ'] }, 'policy:/': { grant: ['WRITE'] } } },
          B: { subjects: { 'x:y': {} }, resources: { 'thing:/attributes': { revoke: ['READ'] } } },
        },
      }, 'a:b', 'x:y');
      expect(hasPermission(policy, ['x:y'], 'thing:/attributes/a', 'READ')).to.equal(false);
      expect(hasPermission(policy, ['x:y'], 'thing:/features', 'READ')).to.equal(true);
    });
  });

  it('sees a thing partially when READ is granted only below it', () => {
    expect(hasPartialPermission(layered, ['nginx:partial'], 'thing:/', 'READ')).to.equal(true);
    expect(hasPartialPermission(layered, ['nginx:blocked'], 'thing:/', 'READ')).to.equal(false);
    expect(hasPartialPermission(layered, ['nginx:nobody'], 'thing:/', 'READ')).to.equal(false);
  });

  describe('readSubjects', () => {
    it('lists the subjects granted READ on the seed policy (the creator and the connection)', () => {
      const policy = parsePolicy(seedPolicy, 'org.acme:lamp', 'nginx:ditto');
      expect(readSubjects(policy, 'thing:/')).to.deep.equal({ granted: ['integration:ditto', 'nginx:ditto'], revoked: [] });
    });

    it('moves a subject to revoked on the path its READ is revoked on, and only there', () => {
      expect(readSubjects(layered, 'thing:/attributes/secret')).to.deep.equal({ granted: ['nginx:owner'], revoked: ['nginx:reader'] });
      expect(readSubjects(layered, 'thing:/attributes/location')).to.deep.equal({ granted: ['nginx:owner', 'nginx:reader'], revoked: [] });
      expect(readSubjects(layered, 'thing:/attributes/public')).to.deep.equal({ granted: ['nginx:owner', 'nginx:partial', 'nginx:reader'], revoked: [] });
      expect(readSubjects(layered, 'thing:/features/lamp')).to.deep.equal({ granted: ['nginx:owner', 'nginx:reader'], revoked: ['nginx:blocked'] });
    });
  });

  it('gives the creator READ and WRITE on thing:/, policy:/ and message:/ by default', () => {
    const policy = defaultPolicy('a:b', 'nginx:me');
    for (const resource of ['thing:/', 'policy:/', 'message:/']) {
      expect(hasPermission(policy, ['nginx:me'], resource, 'READ')).to.equal(true);
      expect(hasPermission(policy, ['nginx:me'], resource, 'WRITE')).to.equal(true);
    }
    expect(hasPermission(policy, ['integration:ditto'], 'thing:/', 'READ')).to.equal(false);
  });

  describe('readableView', () => {
    const thing = { thingId: 'org.acme:thing', policyId: 'org.acme:thing', attributes: { secret: 's', public: 'p', location: 'here' }, features: { lamp: { properties: { on: true } } } };

    it('shows everything but the revoked parts', () => {
      expect(readableView(layered, ['nginx:reader'], thing)).to.deep.equal({
        thingId: 'org.acme:thing', policyId: 'org.acme:thing', attributes: { public: 'p', location: 'here' }, features: { lamp: { properties: { on: true } } },
      });
    });

    it('shows only the granted parts to a subject with partial READ', () => {
      expect(readableView(layered, ['nginx:partial'], thing)).to.deep.equal({ attributes: { public: 'p' } });
    });

    it('shows nothing to a subject without READ anywhere', () => {
      expect(readableView(layered, ['nginx:nobody'], thing)).to.equal(undefined);
      expect(readableView(layered, ['nginx:blocked'], thing)).to.equal(undefined);
    });
  });
});
