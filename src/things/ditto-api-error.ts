/**
 * Errors of the reference gateway's HTTP APIs in Eclipse Ditto's error shape
 * (`{"status":404,"error":"things:thing.notfound","message":…,"description":…}`), so clients
 * written against Ditto can switch on the same `error` strings.
 */
import { ErrorCode, TwinlinkError } from '../errors.ts';

/** The JSON body of a Ditto error response. */
export interface DittoErrorBody {
  readonly status: number;
  readonly error: string;
  readonly message: string;
  readonly description?: string;
}

/**
 * An API request that fails with a Ditto-style error; `status` is the HTTP status and `error`
 * Ditto's error code (`things:thing.notfound`, `things:id.invalid`, …).
 *
 * @example throw new DittoApiError(404, 'things:thing.notfound', "The Thing with ID 'a:b' could not be found.")
 */
export class DittoApiError extends TwinlinkError {
  override name = 'DittoApiError';
  readonly status: number;
  readonly error: string;
  readonly description?: string;

  constructor(status: number, error: string, message: string, description?: string) {
    super(ErrorCode.HTTP_API, message);
    this.status = status;
    this.error = error;
    this.description = description;
  }

  /** The response body Ditto would send. */
  toBody(): DittoErrorBody {
    return this.description === undefined
      ? { status: this.status, error: this.error, message: this.message }
      : { status: this.status, error: this.error, message: this.message, description: this.description };
  }
}

/** 404 for a thing that does not exist or that the caller may not read (Ditto does not tell them apart). */
export function thingNotFound(thingId: string): DittoApiError {
  return new DittoApiError(404, 'things:thing.notfound',
    `The Thing with ID '${thingId}' could not be found or requester had insufficient permissions to access it.`,
    'Check if the ID of your requested Thing was correct and you have sufficient permissions.');
}

/** 400 for a malformed thing id. */
export function thingIdInvalid(thingId: string): DittoApiError {
  return new DittoApiError(400, 'things:id.invalid', `Thing ID '${thingId}' is not valid!`,
    'It must conform to the namespaced entity ID notation (see Ditto documentation)');
}

/** 400 for a request body that is not the JSON expected. */
export function jsonInvalid(message: string): DittoApiError {
  return new DittoApiError(400, 'json.invalid', message, 'Check if the JSON was valid (e.g. on https://jsonlint.com) and if it was in required format.');
}
