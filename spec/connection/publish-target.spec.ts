import { expect } from 'chai';
import { parsePublishAddress, publishBaseOf, publishUrl } from '../../src/connection/publish-target.ts';

describe('publish target', () => {
  it('splits VERB:/path?query into method and path', () => {
    expect(parsePublishAddress('POST:/6148b899?x=1')).to.deep.equal({ method: 'POST', pathAndQuery: '/6148b899?x=1' });
    expect(parsePublishAddress('DELETE:/things/{{ thing:id }}')).to.deep.equal({ method: 'DELETE', pathAndQuery: '/things/{{ thing:id }}' });
  });

  it('treats a bare verb as the root path', () => {
    expect(parsePublishAddress('PUT:')).to.deep.equal({ method: 'PUT', pathAndQuery: '/' });
  });

  it("rejects anything else with Ditto's wording", () => {
    expect(() => parsePublishAddress('HEAD:/x')).to.throw(TypeError, "Expect '<VERB>:/<path>'");
    expect(() => parsePublishAddress('/x')).to.throw(TypeError);
  });

  it('keeps the path prefix of the connection uri', () => {
    const base = publishBaseOf('https://hook.example:8443/api/v1/');
    expect(publishUrl(base, '/events?a=b')).to.equal('https://hook.example:8443/api/v1/events?a=b');
    expect(publishUrl(base, 'events')).to.equal('https://hook.example:8443/api/v1/events');
  });

  it('publishes to the root when the uri has no path', () => {
    expect(publishUrl(publishBaseOf('http://127.0.0.1:8080'), '/x')).to.equal('http://127.0.0.1:8080/x');
  });

  it('turns userinfo into a Basic authorization and removes it from the url', () => {
    const base = publishBaseOf('https://user%40corp:p%3Ass@hook.example/in');
    expect(base.base).to.equal('https://hook.example/in');
    expect(base.basicAuthorization).to.equal(`Basic ${Buffer.from('user@corp:p:ss').toString('base64')}`);
    expect(publishUrl(base, '/x')).not.to.contain('user');
  });

  it('has no Basic authorization without userinfo', () => {
    expect(publishBaseOf('http://127.0.0.1:1').basicAuthorization).to.equal(undefined);
  });
});
