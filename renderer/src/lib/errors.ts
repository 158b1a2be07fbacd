// renderer — errors in words a person can act on. Everything that fails reaches the UI as a
// ProtocolError (app/protocol/errors.ts: a stable code, a message, details); this file says what it
// means and what to do, per host (the fix for "refused" differs between the desktop app and a browser).
import { ERROR_CODES, ProtocolError, type ErrorCode } from '../../../app/protocol/errors.js';
import type { HostKind, LinkError } from './bridge.js';

/** What went wrong and what the user can do about it. */
export interface Problem {
  code: ErrorCode;
  title: string;
  hint: string;
  /** The service's own lines (INVALID_RULE errors, INVALID_PARAMS issues), one per problem. */
  lines: string[];
}

function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, v);
}

/**
 * Any rejection as a ProtocolError: ProtocolErrors as they are, coded plain objects (what crosses
 * Electron IPC or a structured clone) rebuilt, anything else UNAVAILABLE with its message.
 */
export function toProtocolError(e: unknown): ProtocolError {
  if (e instanceof ProtocolError) return e;
  if (e !== null && typeof e === 'object') {
    const o = e as { code?: unknown; message?: unknown; details?: unknown };
    if (isErrorCode(o.code)) return new ProtocolError(o.code, typeof o.message === 'string' ? o.message : ERROR_CODES[o.code], o.details);
    // Electron's ipcRenderer.invoke flattens thrown errors to "Error invoking remote method 'x': CODE: message".
    if (typeof o.message === 'string') {
      const m = /\b([A-Z][A-Z_]+): (.*)$/.exec(o.message);
      if (m && isErrorCode(m[1])) return new ProtocolError(m[1], m[2]!);
      return new ProtocolError('UNAVAILABLE', o.message);
    }
  }
  return new ProtocolError('UNAVAILABLE', String(e));
}

/** The link error a host reported, as a ProtocolError (unknown codes become UNAVAILABLE). */
export function linkErrorToProtocolError(e: LinkError | undefined): ProtocolError {
  if (e === undefined) return new ProtocolError('UNAVAILABLE', 'the connection to the service was lost');
  return new ProtocolError(isErrorCode(e.code) ? e.code : 'UNAVAILABLE', e.message);
}

function stringLines(details: unknown, key: string, item?: (o: Record<string, unknown>) => string | null): string[] {
  const list = details !== null && typeof details === 'object' ? (details as Record<string, unknown>)[key] : undefined;
  if (!Array.isArray(list)) return [];
  return list.map((v) => (typeof v === 'string' ? v : v !== null && typeof v === 'object' && item ? item(v as Record<string, unknown>) : null))
    .filter((l): l is string => l !== null);
}

/** The service's per-problem lines of an INVALID_RULE (details.errors) or INVALID_PARAMS (details.issues) error. */
export function problemLines(e: ProtocolError): string[] {
  if (e.code === 'INVALID_RULE') {
    const lines = stringLines(e.details, 'errors');
    return lines.length ? lines : [e.message];
  }
  if (e.code === 'INVALID_PARAMS') {
    const lines = stringLines(e.details, 'issues', (i) => (typeof i.message === 'string' ? (typeof i.path === 'string' && i.path ? `${i.path}: ${i.message}` : i.message) : null));
    return lines.length ? lines : [e.message];
  }
  return [];
}

/** What an error means and what to do, for `host`. */
export function describeError(err: unknown, host: HostKind): Problem {
  const e = toProtocolError(err);
  const base = { code: e.code, lines: problemLines(e) };
  switch (e.code) {
    case 'UNAVAILABLE':
      return host === 'desktop'
        ? { ...base, title: 'Not connected to the Switchyard service', hint: `${cap(e.message)}. Check that the service is running (sudo switchyard up --config FILE, or the system service). The app reconnects by itself.` }
        : { ...base, title: 'Cannot reach the Switchyard service', hint: `${cap(e.message)}. Check that the service is running and that this page was opened from the link it printed. The page reconnects by itself.` };
    case 'FORBIDDEN':
      return host === 'desktop'
        ? { ...base, title: 'The service refused this user', hint: `${cap(e.message)}. Only root and members of the service's control group (default "switchyard") may use it: add your user to that group, then log in again.` }
        : { ...base, title: 'The service refused this page', hint: e.message.includes('#token=') ? `${cap(e.message)}.`
          : `${cap(e.message)}. Open the link the service printed again (it ends with #token=…); the token may be wrong or out of date.` };
    case 'OVERLOADED':
      return { ...base, title: 'The service is busy', hint: 'Too many clients or requests at once. Try again in a moment.' };
    case 'TOO_LARGE':
      return { ...base, title: 'A message was too large', hint: `${cap(e.message)}. The connection was reset; it reconnects by itself.` };
    case 'INTERNAL':
      return { ...base, title: 'The service failed while answering', hint: 'Details are in the service log. Try again; if it keeps failing, restart the service.' };
    case 'PERSIST_FAILED':
      return { ...base, title: 'The change could not be saved', hint: `${cap(e.message)}. Nothing was changed: the running rules and the config file are as they were.` };
    case 'INVALID_RULE':
      return { ...base, title: 'The service refused the rule', hint: 'Nothing was changed. Fix the fields named below and try again.' };
    case 'INVALID_PARAMS':
      return { ...base, title: 'The request was not valid', hint: cap(e.message) };
    case 'RULE_EXISTS':
      return { ...base, title: 'A rule with that id already exists', hint: `${cap(e.message)}. Choose another id.` };
    case 'RULE_NOT_FOUND':
      return { ...base, title: 'That rule no longer exists', hint: `${cap(e.message)}. Someone may have changed the rules meanwhile; the list has been reloaded.` };
    case 'SESSION_NOT_FOUND':
      return { ...base, title: 'That session has already ended', hint: cap(e.message) };
    case 'UPSTREAM_NOT_FOUND':
      return { ...base, title: 'No such upstream', hint: `${cap(e.message)}. Upstreams are configured under "upstreams:" in the service's config file.` };
    default:
      return { ...base, title: cap(ERROR_CODES[e.code]), hint: cap(e.message) };
  }
}

function cap(text: string): string {
  const t = text.replace(/[.\s]+$/, '');
  return t.charAt(0).toUpperCase() + t.slice(1);
}
