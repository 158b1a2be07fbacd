// app/protocol — every error code a request can fail with, declared once. An error crosses a process
// boundary as plain data `{ code, message, details? }` (never a bare string); ProtocolError carries the
// same three fields inside a process. Pure: no transport, no Node APIs.
import { z } from 'zod';

/** Every error code, with what it means (the text doubles as documentation for clients). */
export const ERROR_CODES = {
  BAD_REQUEST: 'the message is not a JSON object with an id and a method',
  UNKNOWN_METHOD: 'no method with that name',
  INVALID_PARAMS: 'the params do not match the method\'s schema (details.issues names each path)',
  FORBIDDEN: 'the caller may not use the service (not root, not in the allowed group)',
  NOT_FOUND: 'the named thing does not exist',
  SESSION_NOT_FOUND: 'no live session with that id',
  RULE_NOT_FOUND: 'no rule with that id',
  RULE_EXISTS: 'a rule with that id already exists',
  INVALID_RULE: 'the rule or action is not valid (details.errors has one line per problem, naming the field)',
  UPSTREAM_NOT_FOUND: 'no upstream with that name',
  PERSIST_FAILED: 'the change could not be saved to the config file (nothing was changed; details.error says why)',
  TOO_LARGE: 'a message was over the size limit; the connection is closed',
  OVERLOADED: 'too many clients or requests in flight; retry later',
  INTERNAL: 'the service failed while answering; details are in its log',
  UNAVAILABLE: 'the service is not running, not reachable, or the connection was lost',
} as const;

/** A stable error code, e.g. 'SESSION_NOT_FOUND'. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The list of codes, for z.enum and iteration. */
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/** An error as it travels on the wire. */
export const ErrorBodySchema = z.object({
  code: z.enum(ERROR_CODE_LIST),
  message: z.string(),
  details: z.unknown().optional(),
});

/** An error as it travels on the wire: `{ code, message, details? }`. */
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** A coded error; handlers throw it and clients reject with it. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.details = details;
  }

  /** The wire form; `details` is left out when undefined. */
  toJSON(): ErrorBody {
    return this.details === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, details: this.details };
  }

  /** Rebuilds an error received from the wire. */
  static from(body: ErrorBody): ProtocolError {
    return new ProtocolError(body.code, body.message, body.details);
  }
}

/** True when `e` is a ProtocolError, optionally with the given code. */
export function isProtocolError(e: unknown, code?: ErrorCode): e is ProtocolError {
  return e instanceof ProtocolError && (code === undefined || e.code === code);
}
