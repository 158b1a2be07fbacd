// The two hosts as HostBridges (renderer/src/lib/hosts.ts): the browser's WsClient (app/ui/ws-client.ts,
// driven over a fake WebSocket) and the desktop app's preload (main/preload-api.ts' shape, faked);
// and the token taken from the page URL (renderer/src/lib/token.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { WsClient } from '../../app/ui/ws-client.js';
import { ProtocolError } from '../../app/protocol/errors.js';
import type { BridgeState, SwitchyardBridge as PreloadBridge } from '../../main/ipc-contract.js';
import { browserBridge, desktopBridge, tokenlessBridge } from '../../renderer/src/lib/hosts.js';
import { takeToken } from '../../renderer/src/lib/token.js';
import { Core } from '../../renderer/src/lib/core.svelte.js';
import { settle } from './support.js';

const TOKEN = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  protocol = '';
  readonly sent: { id: number; method: string; params: unknown }[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string, readonly protocols: string[]) { FakeSocket.all.push(this); }
  send(text: string): void { this.sent.push(JSON.parse(text) as { id: number; method: string; params: unknown }); }
  close(): void { this.readyState = 3; }
  // the service's side
  accept(): void { this.readyState = 1; this.protocol = 'switchyard.v1'; this.onopen?.({}); }
  answer(method: string, result: unknown): void {
    const req = [...this.sent].reverse().find((r) => r.method === method)!;
    this.onmessage?.({ data: JSON.stringify({ id: req.id, result }) });
  }
  fail(method: string, error: unknown): void {
    const req = [...this.sent].reverse().find((r) => r.method === method)!;
    this.onmessage?.({ data: JSON.stringify({ id: req.id, error }) });
  }
  push(event: string, data: unknown): void { this.onmessage?.({ data: JSON.stringify({ event, data }) }); }
  drop(code = 1006): void { this.readyState = 3; this.onclose?.({ code, reason: '' }); }
}

const HELLO = { protocolVersion: 1, serverVersion: '1.2.3', methods: [] };
const clients: WsClient[] = [];
function wsClient(): WsClient {
  const c = new WsClient({ url: 'ws://127.0.0.1:5359/api', token: TOKEN, WebSocket: FakeSocket as never, reconnect: false, validateResults: false });
  clients.push(c);
  return c;
}
afterEach(() => { for (const c of clients.splice(0)) c.close(); FakeSocket.all = []; });

describe('browserBridge over WsClient', () => {
  it('offers the protocol and the token as subprotocols', () => {
    wsClient();
    expect(FakeSocket.all[0]!.url).toBe('ws://127.0.0.1:5359/api');
    expect(FakeSocket.all[0]!.protocols).toEqual(['switchyard.v1', `switchyard.token.${TOKEN}`]);
  });

  it('holds a call made while connecting until the client is connected, then answers it', async () => {
    const bridge = browserBridge(wsClient());
    const ws = FakeSocket.all[0]!;
    const status = bridge.call('status', {});
    ws.accept();
    await settle();
    ws.answer('hello', HELLO);
    await settle();
    ws.answer('status', { routing: true });
    expect(await status).toEqual({ routing: true });
  });

  it('rejects with the service\'s coded error', async () => {
    const bridge = browserBridge(wsClient());
    const ws = FakeSocket.all[0]!;
    ws.accept(); await settle(); ws.answer('hello', HELLO); await settle();
    const p = bridge.call('rules.add', {});
    await settle();
    ws.fail('rules.add', { code: 'INVALID_RULE', message: 'bad', details: { errors: ['rules[0].match: is empty'] } });
    const e = await p.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).details).toEqual({ errors: ['rules[0].match: is empty'] });
  });

  it('delivers ticks and reports the link going down with its reason', async () => {
    const bridge = browserBridge(wsClient());
    const ws = FakeSocket.all[0]!;
    const ticks: unknown[] = [], states: string[] = [];
    bridge.on('tick', (d) => ticks.push(d));
    bridge.onState((s, e) => states.push(e ? `${s}:${e.code}` : s));
    ws.accept(); await settle(); ws.answer('hello', HELLO); await settle();
    ws.push('tick', { seq: 1 });
    ws.drop(1008);
    expect(ticks).toEqual([{ seq: 1 }]);
    expect(states).toEqual(['connected', 'disconnected:FORBIDDEN']);
  });

  it('brings a Core to ready over it: hello, subscribe, list', async () => {
    const core = new Core({ bridge: browserBridge(wsClient()), host: 'browser' });
    core.start();
    const ws = FakeSocket.all[0]!;
    ws.accept(); await settle();
    ws.answer('hello', HELLO); await settle(); // WsClient's own handshake
    ws.answer('hello', HELLO); await settle(); // the core's
    ws.answer('subscribe', { topics: ['tick'], intervalMs: 1000 }); await settle();
    ws.answer('sessions.list', { total: 0, offset: 0, sessions: [] }); await settle();
    expect(core.connection.phase).toBe('ready');
    expect(core.connection.hello?.serverVersion).toBe('1.2.3');
    core.stop();
  });
});

describe('desktopBridge over the preload', () => {
  function preload() {
    const calls: [string, unknown][] = [];
    let state: ((s: BridgeState) => void) | null = null;
    let tick: ((d: unknown) => void) | null = null;
    const p: PreloadBridge = {
      call: (async (m: string, params: unknown) => { calls.push([m, params]); if (m === 'status') return { routing: false }; throw { code: 'SESSION_NOT_FOUND', message: 'gone' }; }) as PreloadBridge['call'],
      on: ((_e: string, l: (d: unknown) => void) => { tick = l; return () => {}; }) as PreloadBridge['on'],
      onState: (l) => { state = l; return () => {}; },
      state: async () => ({ state: 'connected' }),
    };
    return { p, calls, pushState: (s: BridgeState) => state?.(s), pushTick: (d: unknown) => tick?.(d) };
  }

  it('forwards requests and events, and passes plain-object errors on', async () => {
    const f = preload();
    const b = desktopBridge(f.p);
    expect(await b.call('status', {})).toEqual({ routing: false });
    await expect(b.call('sessions.close', { id: 1 })).rejects.toEqual({ code: 'SESSION_NOT_FOUND', message: 'gone' });
    const got: unknown[] = [];
    b.on('tick', (d) => got.push(d));
    f.pushTick({ seq: 3 });
    expect(got).toEqual([{ seq: 3 }]);
  });

  it('answers subscribe itself (main owns the window\'s tick subscription) and says the interval is fixed', async () => {
    const f = preload();
    const b = desktopBridge(f.p);
    expect(await b.call('subscribe', { topics: ['tick'], intervalMs: 5000 })).toEqual({ topics: ['tick'], intervalMs: 1000 });
    expect(f.calls).toEqual([]);
    expect(b.fixedTickInterval).toBe(true);
  });

  it('turns BridgeState objects into link changes with their reason', () => {
    const f = preload();
    const seen: [string, unknown][] = [];
    desktopBridge(f.p).onState((s, e) => seen.push([s, e]));
    f.pushState({ state: 'disconnected', error: { code: 'FORBIDDEN', message: 'not in group switchyard' } });
    f.pushState({ state: 'connected' });
    expect(seen).toEqual([['disconnected', { code: 'FORBIDDEN', message: 'not in group switchyard' }], ['connected', undefined]]);
  });
});

describe('tokenlessBridge', () => {
  it('refuses every request, saying where the token comes from', async () => {
    const e = await tokenlessBridge().call('hello', {}).catch((x: ProtocolError) => x);
    expect((e as ProtocolError).code).toBe('FORBIDDEN');
    expect((e as ProtocolError).message).toContain('#token=');
  });
});

describe('takeToken', () => {
  function env(hash: string, stored: string | null = null) {
    const store = new Map<string, string>(stored ? [['switchyard.token', stored]] : []);
    const replaced: string[] = [];
    return {
      loc: { hash, pathname: '/ui/', search: '?x=1' },
      storage: { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) },
      history: { state: null, replaceState: (_s: unknown, _t: string, url?: string | URL | null) => void replaced.push(String(url)) },
      store, replaced,
    };
  }

  it('reads the token from the fragment once, keeps it in session storage and removes it from the address bar', () => {
    const e = env(`#token=${TOKEN}&view=rules`);
    expect(takeToken(e.loc, e.storage, e.history)).toBe(TOKEN);
    expect(e.store.get('switchyard.token')).toBe(TOKEN);
    expect(e.replaced).toEqual(['/ui/?x=1#view=rules']);
  });

  it('uses the stored token after a reload, when the fragment is gone', () => {
    const e = env('', 'kept-token-kept-token');
    expect(takeToken(e.loc, e.storage, e.history)).toBe('kept-token-kept-token');
    expect(e.replaced).toEqual([]);
  });

  it('removes a malformed token from the address bar without keeping it', () => {
    const e = env('#token=short');
    expect(takeToken(e.loc, e.storage, e.history)).toBeNull();
    expect(e.replaced).toEqual(['/ui/?x=1']);
    expect(e.store.size).toBe(0);
  });
});
