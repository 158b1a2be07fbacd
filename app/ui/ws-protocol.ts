// app/ui — the control protocol's WebSocket binding, declared once for the service (web-ui.ts,
// control/ws-transport.ts) and the browser (ws-client.ts). Pure: no Node or DOM APIs.
//
//   browser                                          service (web-ui.ts)
//   new WebSocket('ws://127.0.0.1:5359/api',   ──▶  Host loopback? Origin = http://<Host>? token right?
//     ['switchyard.v1', 'switchyard.token.<T>'])     no → HTTP 401/403 before the upgrade
//                                              ◀──  101, Sec-WebSocket-Protocol: switchyard.v1
//   one JSON request per text frame            ──▶  the same messages as the Unix socket (app/protocol)
//
// The token rides in a subprotocol because a browser's WebSocket cannot set headers, and a query
// string would land in access logs and the history; the server never echoes it back.

/** The HTTP path of the WebSocket endpoint. */
export const WS_PATH = '/api';
/** The subprotocol both sides speak; the server selects it. */
export const WS_SUBPROTOCOL = 'switchyard.v1';
/** Prefix of the subprotocol that carries the token ('switchyard.token.<TOKEN>'). */
export const WS_TOKEN_PREFIX = 'switchyard.token.';
/** The URL fragment key the CLI puts the token under ('#token=…'). */
export const TOKEN_FRAGMENT_KEY = 'token';

/** The subprotocols a client offers for `token`. */
export function wsSubprotocols(token: string): [string, string] {
  return [WS_SUBPROTOCOL, WS_TOKEN_PREFIX + token];
}

/** What a Sec-WebSocket-Protocol header offers: whether it speaks switchyard.v1, and its token. */
export interface OfferedSubprotocols {
  speaksV1: boolean;
  /** The token, or null when none (or more than one) was offered. */
  token: string | null;
}

/** Reads a Sec-WebSocket-Protocol header (comma-separated). */
export function parseSubprotocols(header: string | undefined): OfferedSubprotocols {
  let speaksV1 = false, token: string | null = null, tokens = 0;
  for (const raw of (header ?? '').split(',')) {
    const p = raw.trim();
    if (p === WS_SUBPROTOCOL) speaksV1 = true;
    else if (p.startsWith(WS_TOKEN_PREFIX)) { tokens++; token = p.slice(WS_TOKEN_PREFIX.length); }
  }
  return { speaksV1, token: tokens === 1 ? token : null };
}

/**
 * WebSocket close codes (RFC 6455 §7.4.1) the service uses, with the protocol error code a client
 * reports for each. An unlisted code (1006: the connection dropped) is UNAVAILABLE.
 */
export const WS_CLOSE = {
  /** The client or service closed normally. */
  NORMAL: 1000,
  /** The service is stopping. */
  GOING_AWAY: 1001,
  /** A binary frame: the protocol is JSON text (BAD_REQUEST). */
  UNSUPPORTED_DATA: 1003,
  /** Text that is not UTF-8 (BAD_REQUEST). */
  INVALID_PAYLOAD: 1007,
  /** Refused by policy (FORBIDDEN). */
  POLICY: 1008,
  /** A message over the size limit (TOO_LARGE). */
  TOO_BIG: 1009,
  /** The service failed (INTERNAL). */
  INTERNAL: 1011,
  /** Too many clients (OVERLOADED). */
  TRY_AGAIN_LATER: 1013,
} as const;

/** Error codes as app/protocol names them (kept as strings so this file stays import-free). */
type CloseErrorCode = 'BAD_REQUEST' | 'FORBIDDEN' | 'TOO_LARGE' | 'INTERNAL' | 'OVERLOADED' | 'UNAVAILABLE';

/** The close code the service sends after a connection-level error with this protocol code. */
export function closeCodeFor(code: string): number {
  switch (code) {
    case 'TOO_LARGE': return WS_CLOSE.TOO_BIG;
    case 'BAD_REQUEST': return WS_CLOSE.UNSUPPORTED_DATA;
    case 'FORBIDDEN': return WS_CLOSE.POLICY;
    case 'OVERLOADED': return WS_CLOSE.TRY_AGAIN_LATER;
    default: return WS_CLOSE.INTERNAL;
  }
}

/** The protocol error code a client reports for a close code. */
export function errorCodeForClose(closeCode: number): CloseErrorCode {
  switch (closeCode) {
    case WS_CLOSE.UNSUPPORTED_DATA: case WS_CLOSE.INVALID_PAYLOAD: return 'BAD_REQUEST';
    case WS_CLOSE.POLICY: return 'FORBIDDEN';
    case WS_CLOSE.TOO_BIG: return 'TOO_LARGE';
    case WS_CLOSE.INTERNAL: return 'INTERNAL';
    case WS_CLOSE.TRY_AGAIN_LATER: return 'OVERLOADED';
    default: return 'UNAVAILABLE';
  }
}

/** The token from a URL fragment ('#token=…', other keys allowed), or null. */
export function tokenFromFragment(hash: string): string | null {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const t = params.get(TOKEN_FRAGMENT_KEY);
  return t && /^[A-Za-z0-9_-]{16,256}$/.test(t) ? t : null;
}

/** The WebSocket URL for a page served by the service ('http://127.0.0.1:5359/' → 'ws://127.0.0.1:5359/api'). */
export function wsUrlFor(page: { protocol: string; host: string }): string {
  return `${page.protocol === 'https:' ? 'wss:' : 'ws:'}//${page.host}${WS_PATH}`;
}
