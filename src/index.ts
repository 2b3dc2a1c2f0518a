/**
 * twinlink's public entry: everything an embedding application may use. Anything not exported
 * here is internal and may change without notice.
 *
 * @example
 * import { createEngine, loadConfig } from 'twinlink';
 * const engine = createEngine({ config: await loadConfig('config/twinlink.yaml') });
 * await engine.start();
 */
export { createEngine, DEFAULT_DRAIN_TIMEOUT, type TwinlinkEngine } from './engine/engine.ts';
export type {
  Acknowledgement,
  ConnectionState,
  ConnectionStatusDocument,
  DittoConnectionStatus,
  DrainReport,
  Engine,
  EngineOptions,
  ExtraFieldsLookup,
} from './engine/types.ts';
export type { ConnectionMetricsDocument } from './engine/connection-metrics.ts';
export type { ConnectionLogsDocument, ConnectionLogEntry } from './engine/connection-logs.ts';

export { loadConfig, parseConfigText, parseConnection, parseConnectionText, type LoadOptions, type ParseOptions } from './config/load.ts';
export { defaultEngineSettings } from './config/schema.ts';
export { redactConfig, redactConnection, REDACTED } from './config/redact.ts';
export type * from './config/types.ts';

export type * from './protocol/signal.ts';
export { toDittoProtocol } from './protocol/envelope.ts';
export {
  DITTO_CONTENT_TYPE,
  MapperRegistry,
  defaultMapperRegistry,
  registerMapper,
  type MapperFactory,
  type MappedMessage,
  type PayloadMapper,
  type MapperContext,
} from './pipeline/payload-mapper.ts';
export type { OutboundMessage } from './pipeline/outbound-message.ts';

export type { Transport, TransportFactory, TransportOptions, TransportRequest, TransportResponse } from './connection/transport.ts';
export { createGotTransport } from './connection/got-transport.ts';
export type { AccessToken, TokenSource, TokenStatus, TokenState } from './auth/token-source.ts';

export { MetricName, LabelName, OUTBOUND_OUTCOMES, TERMINAL_OUTCOMES } from './metrics/names.ts';
export type { Clock } from './shared/clock.ts';

export {
  ConfigError,
  ConnectionError,
  ErrorCode,
  HostBlockedError,
  PlaceholderError,
  PublishError,
  RqlError,
  TokenEndpointError,
  TokenRejectedError,
  TokenResponseError,
  TokenUnavailableError,
  TwinlinkError,
  type ConfigIssue,
  type OAuthErrorFields,
} from './errors.ts';
