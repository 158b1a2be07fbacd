// The window's IPC end to end over an in-memory ipcMain/ipcRenderer pair: the preload's object
// (preload-api.ts) → IpcBridge → ServiceConnection → a fake ControlClient. Also the sandboxed preload
// bundle itself, run in a vm whose `require` knows only `electron`, as a sandboxed preload's does.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ProtocolError, type Tick } from '../../app/protocol/index.js';
import { CHANNELS, IPC, type BridgeState, type SwitchyardBridge } from '../../main/ipc-contract.js';
import { IpcBridge, MAIN_OWNED_METHODS, handleCall } from '../../main/ipc-bridge.js';
import { createBridge } from '../../main/preload-api.js';
import { ServiceConnection } from '../../main/service-connection.js';
import { isAppUrl } from '../../main/window-policy.js';
import { FakeClient, fakeIpc, flush } from './fakes.js';

const STATUS = {
  version: '0.1.0', uptimeMs: 1, routing: true, tun: { name: 'sy0', mtu: 1500, offload: true }, egress: { interface: 'eth0' },
  counts: { sessions: { tcp: 0, udp: 0, icmp: 0, total: 0 }, bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, drops: {} },
};
const tick = (seq: number): Tick => ({
  seq, at: 1_700_000_000_000 + seq, intervalMs: 1000, sessions: { added: [], updated: [], removed: [] }, apps: [], devices: [],
  totals: { sessions: 0, bytesIn: 0, bytesOut: 0, bytesInPerSec: 0, bytesOutPerSec: 0 },
});

async function connected(client = new FakeClient({
  status: () => STATUS,
  'routing.set': (p) => ({ routing: p.enabled }),
  'sessions.close': (p) => { if (p.id === 404) throw new ProtocolError('SESSION_NOT_FOUND', 'no live session 404', { id: 404 }); return { id: p.id, closed: true }; },
  subscribe: () => ({ topics: ['tick'], intervalMs: 1000 }),
  unsubscribe: () => ({ topics: [] }),
  'apps.list': () => ({ apps: [] }),
})) {
  const service = new ServiceConnection({ connect: async () => client });
  service.start();
  await flush();
  return { client, service };
}

describe('channels', () => {
  it('are derived from the IPC declaration, one per message, all prefixed', () => {
    expect(Object.keys(CHANNELS)).toEqual(Object.keys(IPC));
    for (const [name, channel] of Object.entries(CHANNELS)) expect(channel).toBe(`switchyard:${name}`);
    expect(Object.isFrozen(CHANNELS)).toBe(true);
  });
});

describe('handleCall (main side)', () => {
  it.each([
    ['an undeclared method', 'system.exec', {}, 'UNKNOWN_METHOD'],
    ['a prototype key', '__proto__', {}, 'UNKNOWN_METHOD'],
    ['a non-string method', 42, {}, 'UNKNOWN_METHOD'],
    ['subscribe (main owns it)', 'subscribe', { topics: ['tick'] }, 'BAD_REQUEST'],
    ['unsubscribe (main owns it)', 'unsubscribe', {}, 'BAD_REQUEST'],
    ['wrong params', 'routing.set', { enabled: 'yes' }, 'INVALID_PARAMS'],
    ['an unknown param key', 'sessions.close', { id: 1, force: true }, 'INVALID_PARAMS'],
  ])('refuses %s without reaching the service', async (_, method, params, code) => {
    const service = { call: vi.fn() };
    const reply = await handleCall(service, method, params);
    expect(reply).toMatchObject({ ok: false, error: { code } });
    expect(service.call).not.toHaveBeenCalled();
  });

  it('forwards the params exactly as given and returns the result as data', async () => {
    const call = vi.fn(async () => ({ total: 0, offset: 0, sessions: [] }));
    const params = { filter: { app: 'curl' }, limit: 10 };
    expect(await handleCall({ call: call as never }, 'sessions.list', params)).toEqual({ ok: true, result: { total: 0, offset: 0, sessions: [] } });
    expect(call).toHaveBeenCalledWith('sessions.list', params);
  });

  it('turns a ProtocolError into its wire form and anything else into INTERNAL', async () => {
    const coded = { call: async () => { throw new ProtocolError('RULE_NOT_FOUND', 'no rule x', { id: 'x' }); } };
    expect(await handleCall(coded, 'rules.remove', { id: 'x' })).toEqual({ ok: false, error: { code: 'RULE_NOT_FOUND', message: 'no rule x', details: { id: 'x' } } });
    const plain = { call: async () => { throw new Error('boom'); } };
    expect(await handleCall(plain, 'status', {})).toEqual({ ok: false, error: { code: 'INTERNAL', message: 'boom' } });
    expect(MAIN_OWNED_METHODS).toEqual(['subscribe', 'unsubscribe']);
  });
});

describe('window.switchyard over the bridge', () => {
  async function setup(senderUrl?: string) {
    const { client, service } = await connected();
    const ipc = fakeIpc(senderUrl);
    const bridge = new IpcBridge({ ipc: ipc.main, service, isTrustedSender: isAppUrl });
    bridge.register();
    const api: SwitchyardBridge = createBridge(ipc.renderer);
    return { client, service, ipc, bridge, api };
  }

  it('calls a declared method and gets the typed result', async () => {
    const { api, client } = await setup();
    expect(await api.call('routing.set', { enabled: false })).toEqual({ routing: false });
    expect(client.calls.at(-1)).toEqual({ method: 'routing.set', params: { enabled: false } });
  });

  it('rejects with the service\'s coded error as plain data (code and details survive the copy)', async () => {
    const { api } = await setup();
    const err = await api.call('sessions.close', { id: 404 }).catch((e: unknown) => e);
    expect(err).toEqual({ code: 'SESSION_NOT_FOUND', message: 'no live session 404', details: { id: 404 } });
    expect(err).not.toBeInstanceOf(Error);
  });

  it('rejects undeclared methods in main even when the renderer bypasses the types', async () => {
    const { api, client } = await setup();
    const before = client.calls.length;
    await expect((api.call as (m: string, p: unknown) => Promise<unknown>)('shell.run', { cmd: 'id' })).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' });
    expect(client.calls.length).toBe(before);
  });

  it('refuses a frame from any other origin', async () => {
    const { api, client } = await setup('https://evil.example/');
    const before = client.calls.length;
    await expect(api.call('status', {})).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(api.state()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(client.calls.length).toBe(before);
  });

  it('forwards ticks only while a window is attached, and the service subscription follows', async () => {
    const { api, client, ipc, bridge } = await setup();
    const got: number[] = [];
    const off = api.on('tick', (t) => got.push(t.seq));
    client.emit('tick', tick(1)); // no window yet
    bridge.attach(ipc.target);
    await flush();
    expect(client.methods().filter((m) => m === 'subscribe')).toHaveLength(1);
    client.emit('tick', tick(2));
    client.emit('tick', tick(3));
    bridge.detach();
    await flush();
    expect(client.methods().at(-1)).toBe('unsubscribe');
    client.emit('tick', tick(4));
    expect(got).toEqual([2, 3]);
    off();
    bridge.attach(ipc.target);
    client.emit('tick', tick(5));
    expect(got).toEqual([2, 3]); // unsubscribed listener
    expect(ipc.sent.filter((s) => s.channel === CHANNELS.event)).toHaveLength(3);
  });

  it('surfaces the connection state: now, and on every change (reconnects included)', async () => {
    const { api, client, ipc, bridge } = await setup();
    expect(await api.state()).toEqual({ state: 'connected' });
    bridge.attach(ipc.target);
    const states: BridgeState[] = [];
    api.onState((s) => states.push(s));
    client.setState('disconnected', new ProtocolError('UNAVAILABLE', 'the connection to the Switchyard service was lost'));
    expect(await api.state()).toEqual({ state: 'disconnected', error: { code: 'UNAVAILABLE', message: 'the connection to the Switchyard service was lost' } });
    client.setState('connected');
    await flush();
    expect(states).toEqual([
      { state: 'disconnected', error: { code: 'UNAVAILABLE', message: 'the connection to the Switchyard service was lost' } },
      { state: 'connected' },
    ]);
    // ticks wanted across the reconnect: subscribe sent again after it
    expect(client.methods().filter((m) => m === 'subscribe')).toHaveLength(2);
  });

  it('never hands the renderer the IPC event object', async () => {
    const { api, ipc, bridge, client } = await setup();
    bridge.attach(ipc.target);
    const args: unknown[][] = [];
    api.on('tick', (...a: unknown[]) => { args.push(a); });
    client.emit('tick', tick(9));
    expect(args).toHaveLength(1);
    expect(args[0]).toHaveLength(1);
    expect(args[0]![0]).toMatchObject({ seq: 9 });
  });

  it('unregister removes both handlers', async () => {
    const { bridge, ipc } = await setup();
    expect([...ipc.handlers.keys()].sort()).toEqual([CHANNELS.call, CHANNELS.state].sort());
    bridge.unregister();
    expect(ipc.handlers.size).toBe(0);
  });
});

describe('the preload bundle (sandboxed)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sy-preload-'));
    const { build } = await import('vite');
    const configUrl = pathToFileURL(path.resolve(import.meta.dirname, '../../build/preload.vite.config.mjs')).href;
    const config = (await import(configUrl) as { default: { build: Record<string, unknown> } }).default;
    await build({ ...config, logLevel: 'silent', build: { ...config.build, outDir: dir } });
  }, 60_000);
  afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

  it('is one CommonJS file that requires nothing but electron and exposes window.switchyard', async () => {
    const code = readFileSync(path.join(dir, 'preload.cjs'), 'utf8');
    const required: string[] = [];
    const exposed = new Map<string, unknown>();
    const { main, renderer } = fakeIpc();
    const { client, service } = await connected();
    new IpcBridge({ ipc: main, service, isTrustedSender: isAppUrl }).register();
    const electron = { contextBridge: { exposeInMainWorld: (k: string, v: unknown) => exposed.set(k, v) }, ipcRenderer: renderer };
    const sandboxRequire = (id: string) => {
      required.push(id);
      if (id === 'electron') return electron;
      throw new Error(`module not found: ${id}`); // what a sandboxed preload gets for anything else
    };
    vm.runInNewContext(code, { require: sandboxRequire, module: { exports: {} }, exports: {} });
    expect(required).toEqual(['electron']);
    expect([...exposed.keys()]).toEqual(['switchyard']);
    const api = exposed.get('switchyard') as SwitchyardBridge;
    expect(Object.keys(api).sort()).toEqual(['call', 'on', 'onState', 'state']);
    expect(await api.call('routing.set', { enabled: true })).toEqual({ routing: true });
    expect(client.calls.at(-1)?.method).toBe('routing.set');
  });
});
