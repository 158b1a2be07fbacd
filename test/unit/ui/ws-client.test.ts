// The browser's client of the control API (app/ui/ws-client.ts) against the real server through a
// real web UI on loopback, with `ws` standing in for the browser's WebSocket: states, reconnects with
// re-subscription, timeouts, coded errors; and proof that it loads no Node module.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWebUi, type WebUi } from '../../../app/ui/web-ui.js';
import { WsClient, type WsClientOptions, type WsClientState } from '../../../app/ui/ws-client.js';
import { silentLogger } from '../../../app/log.js';
import { ProtocolError } from '../../../app/protocol/index.js';
import type { ControlHandlers } from '../../../app/control/server.js';
import { fakeHandlers, STATUS, tick } from '../control/fakes.js';
import { TOKEN, makeStaticDir, startUi, wsFrom, type UiHarness } from './fixtures.js';

let dir = '';
let staticDir = '';
const harnesses: UiHarness[] = [];
const extraUis: WebUi[] = [];
const clients: WsClient[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-wsclient-'));
  await writeFile(join(dir, 'package.json'), '{}');
  staticDir = await makeStaticDir(dir, join(dir, 'secret.txt'));
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const u of extraUis.splice(0)) await u.close();
  for (const h of harnesses.splice(0)) await h.close();
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  for (let waited = 0; !cond() && waited < ms; waited += 10) await sleep(10);
}

async function start(handlers?: ControlHandlers): Promise<UiHarness> {
  const h = await startUi(staticDir, {}, handlers);
  harnesses.push(h);
  return h;
}
function options(h: UiHarness, over: Partial<WsClientOptions> = {}): WsClientOptions {
  return { url: `ws://127.0.0.1:${h.port}/api`, token: TOKEN, WebSocket: wsFrom(h.origin), ...over };
}
function client(opts: WsClientOptions): WsClient {
  const c = new WsClient(opts);
  clients.push(c);
  return c;
}

describe('WsClient', () => {
  it('goes connecting → connected, says hello, and rejects calls made before that with UNAVAILABLE', async () => {
    const h = await start();
    const c = client(options(h, { clientName: 'ui test' }));
    const states: WsClientState[] = [c.state];
    c.onState((s) => states.push(s));
    await expect(c.api.status()).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'not connected to the Switchyard service' });
    await c.whenConnected();
    expect(states).toEqual(['connecting', 'connected']);
    expect(c.server?.protocolVersion).toBe(1);
    expect(await c.api.status()).toEqual(STATUS);
  });

  it('rejects a handler\'s coded error as a ProtocolError with code and details', async () => {
    const h = await start();
    const c = await WsClient.connect(options(h));
    clients.push(c);
    const err = await c.api.sessionsClose({ id: 7 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ code: 'SESSION_NOT_FOUND', message: 'no live session 7', details: { id: 7 } });
    await expect(c.call('routing.set', { enabled: 'yes' } as never)).rejects.toMatchObject({ code: 'INVALID_PARAMS' });
  });

  it('fails a request the service does not answer in time with UNAVAILABLE, and keeps the connection', async () => {
    const h = await start({ ...fakeHandlers().handlers, 'apps.list': () => new Promise(() => {}) });
    const c = await WsClient.connect(options(h, { requestTimeoutMs: 100 }));
    clients.push(c);
    await expect(c.api.appsList()).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'the service did not answer apps.list within 100 ms' });
    expect(await c.api.routingSet({ enabled: true })).toEqual({ routing: true });
  });

  it('rejects an invalid result with INTERNAL', async () => {
    const h = await start({ ...fakeHandlers().handlers, 'apps.list': () => ({ apps: [{ bogus: 1 }] }) as never });
    // The server checks results too; turn that off to see the client's own check.
    await h.close();
    harnesses.pop();
    const { startControlServer } = await import('../../../app/control/server.js');
    const { NO_SOCKET } = await import('../control/ws-harness.js');
    const control = await startControlServer({ socketPath: '-', group: 'root', log: silentLogger, version: 't', transport: NO_SOCKET, validateOutput: false,
      handlers: { ...fakeHandlers().handlers, 'apps.list': () => ({ apps: [{ bogus: 1 }] }) as never } });
    const ui = await startWebUi({ listen: '127.0.0.1:0', staticDir, token: TOKEN, control, log: silentLogger, version: 't', heartbeatMs: 0 });
    harnesses.push({ control, ui, port: ui.port, origin: `http://127.0.0.1:${ui.port}`, close: async () => { await ui.close(); await control.close(); } });
    const c = await WsClient.connect({ url: `ws://127.0.0.1:${ui.port}/api`, token: TOKEN, WebSocket: wsFrom(`http://127.0.0.1:${ui.port}`) });
    clients.push(c);
    await expect(c.api.appsList()).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('invalid apps.list result') });
  });

  it('reconnects with backoff after the web UI restarts, renews its subscription, and reports each state', async () => {
    const h = await start();
    const c = client(options(h, { reconnect: { initialDelayMs: 20, maxDelayMs: 80 } }));
    await c.whenConnected();
    const states: WsClientState[] = [];
    const errors: string[] = [];
    c.onState((s, e) => { states.push(s); if (e) errors.push(e.code); });
    const ticks: number[] = [];
    c.on('tick', (t) => ticks.push(t.seq));
    await c.api.subscribe({ topics: ['tick'] });

    await h.ui.close();
    await until(() => states.filter((s) => s === 'disconnected').length >= 3);   // it kept trying
    await expect(c.api.status()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const ui = await startWebUi({ listen: `127.0.0.1:${h.port}`, staticDir, token: TOKEN, control: h.control, log: silentLogger, version: 't', heartbeatMs: 0 });
    extraUis.push(ui);
    await c.whenConnected();
    expect(states[0]).toBe('disconnected');
    expect(states.at(-1)).toBe('connected');
    expect(states.every((s, i) => i === 0 || s !== states[i - 1])).toBe(true);   // no repeats
    expect(errors.every((e) => e === 'UNAVAILABLE')).toBe(true);
    expect(h.control.stats().subscribers).toBe(1);                                // renewed on reconnect
    h.control.broadcast('tick', tick(9));
    await until(() => ticks.length > 0);
    expect(ticks).toEqual([9]);
  });

  it('fails pending requests with the service\'s TOO_LARGE when it sends a request over the limit', async () => {
    const h = await start();
    const c = await WsClient.connect(options(h, { reconnect: false }));
    clients.push(c);
    const err = await c.call('hello', { client: 'x'.repeat(2 << 20) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TOO_LARGE', message: expect.stringContaining('1048576 bytes') });
    await until(() => c.state === 'disconnected');
    expect(c.state).toBe('disconnected');
  });

  it('close() fails pending requests, reports closed once, and stops reconnecting', async () => {
    const h = await start({ ...fakeHandlers().handlers, status: () => new Promise(() => {}) });
    const c = client(options(h));
    await c.whenConnected();
    const states: WsClientState[] = [];
    c.onState((s) => states.push(s));
    const pending = c.api.status();
    c.close();
    c.close();
    await expect(pending).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'the client is closed' });
    await expect(c.whenConnected()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await sleep(50);
    expect(states).toEqual(['closed']);
    expect(h.control.stats().clients).toBe(0);
  });

  it('keeps delivering an event to other listeners when one throws', async () => {
    const h = await start();
    const c = await WsClient.connect(options(h));
    clients.push(c);
    const got: number[] = [];
    const thrown: unknown[] = [];
    const onError = (e: unknown) => thrown.push(e);
    process.on('uncaughtException', onError);
    try {
      c.on('tick', () => { throw new Error('listener bug'); });
      c.on('tick', (t) => got.push(t.seq));
      await c.api.subscribe({ topics: ['tick'] });
      h.control.broadcast('tick', tick(3));
      await until(() => got.length > 0 && thrown.length > 0);
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(got).toEqual([3]);
    expect(thrown).toMatchObject([{ message: 'listener bug' }]);
  });

  it('says what to pass when there is no global WebSocket (Node 20)', () => {
    expect(() => new WsClient({ url: 'ws://127.0.0.1:1/api', token: TOKEN })).toThrow(/pass options\.WebSocket/);
  });
});

describe('ws-client.ts in the browser', () => {
  it('imports no Node module and no `ws`, directly or through what it imports', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else bare.add(spec);
      }
    };
    visit(resolve(here, '../../../app/ui/ws-client.ts'));
    expect([...bare]).toEqual(['zod']);
    expect([...seen].map((f) => f.replace(/.*\/app\//, 'app/')).sort()).toEqual(expect.arrayContaining(['app/ui/ws-client.ts', 'app/ui/ws-protocol.ts', 'app/protocol/index.ts']));
  });
});
