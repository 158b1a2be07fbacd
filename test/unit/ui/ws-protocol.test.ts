// The WebSocket binding's pure parts (app/ui/ws-protocol.ts): subprotocol offers, close codes, the
// token fragment, the endpoint URL.
import { describe, expect, it } from 'vitest';
import { ERROR_CODE_LIST } from '../../../app/protocol/index.js';
import {
  closeCodeFor, errorCodeForClose, parseSubprotocols, tokenFromFragment, WS_CLOSE, wsSubprotocols, wsUrlFor,
} from '../../../app/ui/ws-protocol.js';

describe('subprotocols', () => {
  it('offers switchyard.v1 and the token', () => {
    expect(wsSubprotocols('abc')).toEqual(['switchyard.v1', 'switchyard.token.abc']);
  });

  it.each([
    ['switchyard.v1, switchyard.token.abc', { speaksV1: true, token: 'abc' }],
    ['switchyard.token.abc,switchyard.v1', { speaksV1: true, token: 'abc' }],
    ['switchyard.v1', { speaksV1: true, token: null }],
    ['switchyard.token.abc', { speaksV1: false, token: 'abc' }],
    ['switchyard.token.a, switchyard.token.b, switchyard.v1', { speaksV1: true, token: null }],
    ['switchyard.v2, chat', { speaksV1: false, token: null }],
    ['switchyard.token.', { speaksV1: false, token: '' }],
    [undefined, { speaksV1: false, token: null }],
  ])('parses %j', (header, expected) => {
    expect(parseSubprotocols(header)).toEqual(expected);
  });
});

describe('close codes', () => {
  it.each([
    ['TOO_LARGE', WS_CLOSE.TOO_BIG], ['BAD_REQUEST', WS_CLOSE.UNSUPPORTED_DATA], ['FORBIDDEN', WS_CLOSE.POLICY],
    ['OVERLOADED', WS_CLOSE.TRY_AGAIN_LATER], ['INTERNAL', WS_CLOSE.INTERNAL],
  ])('%s <-> %i', (code, close) => {
    expect(closeCodeFor(code)).toBe(close);
    expect(errorCodeForClose(close)).toBe(code);
  });

  it('reports every other close as UNAVAILABLE, and every code it reports is a protocol error code', () => {
    for (const c of [1000, 1001, 1005, 1006, 4000]) expect(errorCodeForClose(c)).toBe('UNAVAILABLE');
    expect(errorCodeForClose(WS_CLOSE.INVALID_PAYLOAD)).toBe('BAD_REQUEST');
    for (let c = 1000; c < 1020; c++) expect(ERROR_CODE_LIST).toContain(errorCodeForClose(c));
  });
});

describe('the page', () => {
  it.each([
    ['#token=dGhpcy1pcy1hLXRlc3QtdG9rZW4', 'dGhpcy1pcy1hLXRlc3QtdG9rZW4'],
    ['token=dGhpcy1pcy1hLXRlc3QtdG9rZW4&view=sessions', 'dGhpcy1pcy1hLXRlc3QtdG9rZW4'],
    ['#view=sessions', null],
    ['#token=short', null],
    ['#token=has%20space-and-more-chars', null],
    ['', null],
  ])('reads the token from the fragment %j', (hash, token) => {
    expect(tokenFromFragment(hash)).toBe(token);
  });

  it('derives the endpoint from the page location', () => {
    expect(wsUrlFor({ protocol: 'http:', host: '127.0.0.1:5359' })).toBe('ws://127.0.0.1:5359/api');
    expect(wsUrlFor({ protocol: 'https:', host: 'gw.lan' })).toBe('wss://gw.lan/api');
  });
});
