import { expect } from 'chai';
import { buildStatusDocument, clientName } from '../../src/engine/status-document.ts';
import type { ConnectionConfig, TargetConfig } from '../../src/config/types.ts';
import type { TokenStatus } from '../../src/auth/token-source.ts';

import { ErrorCode } from '../../src/errors.ts';

const target = (address: string): TargetConfig => ({
  address,
  topics: ['_/_/things/twin/events'],
  authorizationContext: ['nginx:ditto'],
  headerMapping: {},
  payloadMapping: [],
});

const connection: ConnectionConfig = {
  id: 'shop',
  connectionType: 'http-push',
  connectionStatus: 'open',
  uri: 'https://webhook.example.org:443',
  validateCertificates: true,
  clientCount: 1,
  failoverEnabled: true,
  tags: [],
  sources: [],
  targets: [target('POST:/orders/{{ thing:id }}'), target('PUT:/audit')],
  mappingDefinitions: {},
  specificConfig: { parallelism: 1, omitRequestBody: ['GET', 'DELETE'] },
  credentials: {
    type: 'oauth-client-credentials',
    tokenEndpoint: 'https://auth.example.org/token',
    clientId: 'shop-client',
    clientSecret: 'very-secret',
    clientAuthenticationMethod: 'client_secret_post',
  },
};

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

describe('buildStatusDocument', () => {
  it('renders an open connection in Ditto’s shape with ISO times', () => {
    const doc = buildStatusDocument({ connection, state: 'authenticated', dittoStatus: 'open', statusDetails: 'Connected.', inStateSince: T0 + 500, connectedSince: T0 });
    expect(doc).to.deep.equal({
      connectionId: 'shop',
      connectionStatus: 'open',
      liveStatus: 'open',
      connectedSince: '2025-01-01T12:00:00.000Z',
      clientStatus: [
        { type: 'client', client: 'twinlink-shop-0', state: 'open', status: 'open', statusDetails: 'Connected.', inStateSince: '2025-01-01T12:00:00.500Z' },
      ],
      sourceStatus: [],
      targetStatus: [
        { type: 'target', client: 'twinlink-shop-0', address: 'POST:/orders/{{ thing:id }}', status: 'open', statusDetails: 'Connected.', inStateSince: '2025-01-01T12:00:00.500Z' },
        { type: 'target', client: 'twinlink-shop-0', address: 'PUT:/audit', status: 'open', statusDetails: 'Connected.', inStateSince: '2025-01-01T12:00:00.500Z' },
      ],
      state: 'authenticated',
      statusDetails: 'Connected.',
    });
  });

  it('lists one client per clientCount and one target status per distinct address', () => {
    const doc = buildStatusDocument({
      connection: { ...connection, clientCount: 3, targets: [target('POST:/a'), target('POST:/a'), target('POST:/b')] },
      state: 'closed', dittoStatus: 'closed',
      statusDetails: 'Closed by the user.',
      inStateSince: T0,
    });
    expect(doc.clientStatus.map((c) => c.client)).to.deep.equal(['twinlink-shop-0', 'twinlink-shop-1', 'twinlink-shop-2']);
    expect(doc.targetStatus.map((t) => t.address)).to.deep.equal(['POST:/a', 'POST:/b']);
    expect(doc.connectedSince).to.equal(null);
    expect(doc.liveStatus).to.equal('closed');
    expect(doc).to.not.have.property('token');
  });

  it('reports the token lifecycle without the token or anything else the snapshot carries', () => {
    const token = {
      state: 'backoff',
      since: T0,
      expiresAt: T0 + 3_600_000,
      lastRefresh: T0 - 60_000,
      lastError: { code: ErrorCode.TOKEN_ENDPOINT, message: 'token endpoint answered 503', cause: new Error('hidden'), access_token: 'leak' },
      value: 'eyJ.secret.token',
    } as unknown as TokenStatus;
    const doc = buildStatusDocument({ connection, state: 'backoff', dittoStatus: 'failed', statusDetails: 'Token endpoint unavailable; retrying.', inStateSince: T0, token });
    expect(doc.token).to.deep.equal({
      state: 'backoff',
      expiresAt: '2025-01-01T13:00:00.000Z',
      lastRefresh: '2025-01-01T11:59:00.000Z',
      lastError: { code: 'ERR_TOKEN_ENDPOINT', message: 'token endpoint answered 503' },
    });
    const json = JSON.stringify(doc);
    expect(json).to.not.match(/eyJ\.secret|leak|hidden|very-secret/);
  });

  it('shows the RFC 6749 error of a refused credential and calls the connection misconfigured', () => {
    const token: TokenStatus = {
      state: 'failed',
      since: T0,
      lastError: { code: ErrorCode.TOKEN_REJECTED, message: 'credentials refused', error: 'invalid_client', errorDescription: 'unknown client', errorUri: 'https://auth.example.org/errors' },
    };
    const doc = buildStatusDocument({ connection, state: 'failed', dittoStatus: 'misconfigured', statusDetails: 'invalid_client: unknown client', inStateSince: T0, token });
    expect(doc.liveStatus).to.equal('misconfigured');
    expect(doc.token).to.deep.equal({
      state: 'failed',
      expiresAt: null,
      lastRefresh: null,
      lastError: { code: 'ERR_TOKEN_REJECTED', message: 'credentials refused', error: 'invalid_client', errorDescription: 'unknown client', errorUri: 'https://auth.example.org/errors' },
    });
  });

  it('uses an explicit Ditto status over the derived one', () => {
    const doc = buildStatusDocument({ connection, state: 'connecting', dittoStatus: 'misconfigured', statusDetails: 'Bad target.', inStateSince: T0 });
    expect(doc.liveStatus).to.equal('misconfigured');
    expect(doc.clientStatus[0]?.state).to.equal('misconfigured');
    expect(doc.targetStatus[0]?.status).to.equal('misconfigured');
  });

  it('keeps the desired status (connectionStatus) apart from the live one', () => {
    const doc = buildStatusDocument({ connection: { ...connection, connectionStatus: 'closed' }, state: 'closed', dittoStatus: 'closed', statusDetails: '', inStateSince: T0 });
    expect(doc.connectionStatus).to.equal('closed');
    const opening = buildStatusDocument({ connection, state: 'connecting', dittoStatus: 'unknown', statusDetails: 'Fetching a token.', inStateSince: T0 });
    expect([opening.connectionStatus, opening.liveStatus]).to.deep.equal(['open', 'unknown']);
  });
});

describe('clientName', () => {
  it('is stable per connection and index', () => {
    expect(clientName('shop', 0)).to.equal('twinlink-shop-0');
    expect(clientName('shop', 2)).to.equal('twinlink-shop-2');
  });
});
