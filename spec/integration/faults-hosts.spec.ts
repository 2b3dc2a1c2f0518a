import { expect } from 'chai';
import { firstValueFrom, filter } from 'rxjs';
import { requestClientCredentialsToken } from '../../src/auth/client-credentials.ts';
import { createTokenActor } from '../../src/auth/token-actor.ts';
import { parseConfigText, parseConnection } from '../../src/config/load.ts';
import { createGotTransport } from '../../src/connection/got-transport.ts';
import { createEngine } from '../../src/engine/engine.ts';
import { ErrorCode, HostBlockedError, PublishError } from '../../src/errors.ts';
import { createHostPolicy, type HostLookup } from '../../src/shared/host-policy.ts';
import { faultYaml, startEngineHarness, useFaultServers } from '../helpers/fault-harness.ts';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** DNS that answers a public address for the policy's check, then 127.0.0.1 (a rebinding attack). */
function rebindingDns(): HostLookup & { calls: number } {
  const lookup = async (): Promise<{ address: string; family: number }[]> => {
    lookup.calls += 1;
    return [{ address: lookup.calls === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
  };
  lookup.calls = 0;
  return lookup;
}

describe('engine host filtering (engine.allowedHosts / blockedHosts / blockedSubnets)', function () {
  this.timeout(10_000);
  const env = useFaultServers();


  const filtering = (lines: string) => `  ${lines}\n`;

  it('publishes to loopback while no list is configured (the default)', async () => {
    env.harness = await startEngineHarness(faultYaml({ uri: env.hook.url, tokenEndpoint: env.idp.tokenEndpoint }));
    env.harness.dispatch(1);
    expect(await env.harness.settled('c1', 1)).to.include({ published: 1 });
  });

  it('refuses to start a connection whose uri is loopback once filtering is on', async () => {
    const config = parseConfigText(faultYaml({ uri: env.hook.url, engineExtra: filtering('blockedSubnets: ["203.0.113.0/24"]') }), { env: {} });
    const engine = createEngine({ config });
    const error = await rejection(engine.start());
    expect(error).to.be.instanceOf(HostBlockedError);
    expect(error).to.include({ code: ErrorCode.HOST_BLOCKED, host: '127.0.0.1', rule: 'loopback' });
    expect((error as Error).message).to.include('engine.allowedHosts');
    await engine.stop();
    expect(env.hook.requests).to.have.length(0);
  });

  it('allows loopback hosts listed in allowedHosts, for the target and the token endpoint', async () => {
    env.harness = await startEngineHarness(
      faultYaml({ uri: env.hook.url, tokenEndpoint: env.idp.tokenEndpoint, engineExtra: filtering('allowedHosts: ["127.0.0.1"]\n  blockedSubnets: ["10.0.0.0/8"]') }),
    );
    env.harness.dispatch(2);
    expect(await env.harness.settled('c1', 2)).to.include({ published: 2 });
    expect(env.idp.requests).to.have.length(1);
  });

  it('refuses a token endpoint that resolves to loopback when only the target host is allowed', async () => {
    const tokenEndpoint = env.idp.tokenEndpoint.replace('127.0.0.1', 'localhost');
    const config = parseConfigText(faultYaml({ uri: env.hook.url, tokenEndpoint, engineExtra: filtering('allowedHosts: ["127.0.0.1"]') }), { env: {} });
    const engine = createEngine({ config });
    const error = await rejection(engine.start());
    expect(error).to.be.instanceOf(HostBlockedError);
    expect(error).to.include({ code: ErrorCode.HOST_BLOCKED, host: 'localhost', rule: 'loopback' });
    await engine.stop();
    expect(env.idp.requests).to.have.length(0);
  });

  it('refuses addConnection and updateConnection pointing at a blocked host, and keeps running', async () => {
    const yaml = faultYaml({ uri: env.hook.url, engineExtra: filtering('allowedHosts: ["127.0.0.1"]') });
    env.harness = await startEngineHarness(yaml);
    const settings = env.harness.engine.settings;
    const blocked = parseConnection(
      { id: 'internal', connectionType: 'http-push', uri: 'http://10.1.2.3:8080', targets: [{ address: 'POST:/x', topics: ['_/_/things/twin/events'], authorizationContext: ['integration:test'] }] },
      settings,
    );
    const added = await rejection(env.harness.engine.addConnection(blocked));
    expect(added).to.be.instanceOf(HostBlockedError);
    expect(added).to.include({ code: ErrorCode.HOST_BLOCKED, rule: 'private' });
    expect(env.harness.engine.connection('internal')).to.equal(undefined);

    const moved = parseConnection({ ...JSON.parse(JSON.stringify(env.harness.engine.connection('c1'))), uri: 'http://169.254.169.254' }, settings);
    expect(await rejection(env.harness.engine.updateConnection(moved))).to.include({ code: ErrorCode.HOST_BLOCKED, rule: 'link-local' });
    expect(env.harness.engine.connection('c1')?.uri).to.equal(env.hook.url);
    env.harness.dispatch(1);
    expect(await env.harness.settled('c1', 1)).to.include({ published: 1 });
  });

  it('refuses a target host at connect time when its name re-resolves to a blocked address', async () => {
    const policy = createHostPolicy({ allowedHosts: [], blockedHosts: [], blockedSubnets: ['203.0.113.0/24'] }, { lookup: async () => [{ address: '127.0.0.1', family: 4 }] });
    const transport = createGotTransport({ parallelism: 1, validateCertificates: true, maxResponseBytes: 1024, dnsLookup: policy.dnsLookup });
    try {
      const error = await rejection(transport.request({ method: 'POST', url: `http://internal.test:${env.hook.port}/x`, headers: {}, body: '{}', timeout: 2000 }));
      expect(error).to.be.instanceOf(PublishError);
      expect(error).to.include({ code: ErrorCode.PUBLISH_FAILED, reason: ErrorCode.HOST_BLOCKED });
      expect(env.hook.requests).to.have.length(0);
    } finally {
      transport.close();
    }
  });

  it('refuses a token endpoint at connect time after DNS rebinding, and the token actor fails instead of retrying', async () => {
    const settings = parseConfigText(faultYaml({ uri: env.hook.url }), { env: {} }).engine;
    const tokenEndpoint = env.idp.tokenEndpoint.replace('127.0.0.1', 'rebind.test');
    const credentials = {
      type: 'oauth-client-credentials' as const, tokenEndpoint, clientId: 'c', clientSecret: 's', clientAuthenticationMethod: 'client_secret_post' as const,
    };
    const tls = { validateCertificates: true };
    const dns = rebindingDns();
    const policy = createHostPolicy({ allowedHosts: [], blockedHosts: [], blockedSubnets: ['203.0.113.0/24'] }, { lookup: dns });
    const error = await rejection(requestClientCredentialsToken({ credentials, tls, timeout: 2000, maxResponseBytes: 4096, hostPolicy: policy }));
    expect(error).to.be.instanceOf(HostBlockedError);
    expect(error).to.include({ code: ErrorCode.HOST_BLOCKED, host: 'rebind.test', rule: 'loopback' });
    expect(dns.calls).to.equal(2);

    const actor = createTokenActor({ credentials, settings: settings.oauth2, tls, hostPolicy: createHostPolicy({ allowedHosts: [], blockedHosts: [], blockedSubnets: ['203.0.113.0/24'] }, { lookup: rebindingDns() }) });
    try {
      actor.start();
      const failed = await firstValueFrom(actor.status$.pipe(filter((status) => status.state === 'failed' || status.state === 'backoff')));
      expect(failed.state).to.equal('failed');
      expect(failed.lastError).to.include({ code: ErrorCode.HOST_BLOCKED });
    } finally {
      actor.stop();
    }
    expect(env.idp.requests).to.have.length(0);
  });
});
