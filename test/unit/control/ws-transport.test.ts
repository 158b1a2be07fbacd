// The control server over WebSocket (app/control/ws-transport.ts): the same messages as on the Unix
// socket, one per text frame; the size limit, binary and garbage frames answered with coded errors;
// the slow-subscriber policy measured with ws's bufferedAmount; and one server instance serving the
// Unix socket and WebSocket clients with one broadcast.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startControlServer, type ControlServer } from '../../../app/control/server.js';
import { ControlClient } from '../../../app/control/client.js';
import { WebSocketTransport } from '../../../app/control/ws-transport.js';
import { silentLogger } from '../../../app/log.js';
import { PROTOCOL_VERSION, ProtocolError, type Tick } from '../../../app/protocol/index.js';
import { WS_SUBPROTOCOL } from '../../../app/ui/ws-protocol.js';
import { WsClient } from '../../../app/ui/ws-client.js';
import { fakeHandlers, session, STATUS, tick } from './fakes.js';
import { rawWs, startWsServer, type RawWs, type WsServer } from './ws-harness.js';

const servers: WsServer[] = [];
const raws: RawWs[] = [];
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.ws.terminate();
  for (const c of cleanups.splice(0)) await c();
  for (const s of servers.splice(0)) await s.close();
});

async function start(...args: Parameters<typeof startWsServer>): Promise<WsServer> {
  const s = await startWsServer(...args);
  servers.push(s);
  return s;
}
async function raw(url: string, protocols?: string[]): Promise<RawWs> {
  const r = await rawWs(url, protocols);
  raws.push(r);
  return r;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('requests over WebSocket', () => {
  it('answers hello and status, one JSON message per text frame, and selects switchyard.v1', async () => {
    const s = await start();
    const c = await raw(s.url, ['switchyard.v1', 'switchyard.token.not-echoed']);
    expect(c.ws.protocol).toBe(WS_SUBPROTOCOL);
    c.send({ id: 1, method: 'hello', params: { client: 'ws test' } });
    expect(await c.next()).toEqual({ id: 1, result: { protocolVersion: PROTOCOL_VERSION, serverVersion: '0.1.0-test', methods: expect.arrayContaining(['status']) } });
    c.send({ id: 'two', method: 'status' });
    expect(await c.next()).toEqual({ id: 'two', result: STATUS });
  });

  it.each([
    ['malformed JSON', '{"id": 1, "method": ', { id: null, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/^malformed JSON/) } }],
    ['an empty frame', '', { id: null, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/^malformed JSON/) } }],
    ['a JSON array', '[1,2]', { id: null, error: { code: 'BAD_REQUEST', message: expect.stringContaining('not a JSON object') } }],
    ['two requests in one frame', '{"id":1,"method":"status"}\n{"id":2,"method":"status"}', { id: null, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/^malformed JSON/) } }],
    ['an unknown method', '{"id": 8, "method": "rm.rf"}', { id: 8, error: { code: 'UNKNOWN_METHOD', message: 'unknown method "rm.rf"', details: expect.anything() } }],
    ['a wrong param type', '{"id": "a", "method": "routing.set", "params": {"enabled": "yes"}}', { id: 'a', error: { code: 'INVALID_PARAMS', message: expect.stringMatching(/^routing\.set: enabled: /), details: expect.anything() } }],
  ])('answers %s with a coded error and keeps the connection', async (_, text, expected) => {
    const s = await start();
    const c = await raw(s.url);
    c.send(text);
    expect(await c.next()).toEqual(expected);
    c.send({ id: 99, method: 'routing.set', params: { enabled: true } });
    expect(await c.next()).toEqual({ id: 99, result: { routing: true } });
  });

  it('answers a binary frame with BAD_REQUEST, then closes with 1003', async () => {
    const s = await start();
    const c = await raw(s.url);
    c.ws.send(Buffer.from(JSON.stringify({ id: 1, method: 'status' })), { binary: true });
    expect(await c.next()).toEqual({ id: null, error: { code: 'BAD_REQUEST', message: expect.stringContaining('binary frames') } });
    expect(await c.closed).toEqual({ code: 1003, reason: 'BAD_REQUEST' });
    expect(s.control.stats().clients).toBe(0);
  });

  it('closes a text frame that is not UTF-8 with 1007', async () => {
    const s = await start();
    const c = await raw(s.url);
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await c.closed).code).toBe(1007);
    await sleep(20);
    expect(s.control.stats().clients).toBe(0);
  });

  it('refuses clients beyond maxClients (shared with every transport) with OVERLOADED and 1013', async () => {
    const s = await start({ limits: { maxClients: 1 } });
    await raw(s.url);
    const second = await raw(s.url);
    expect(await second.next()).toEqual({ id: null, error: { code: 'OVERLOADED', message: expect.stringContaining('1 clients') } });
    expect((await second.closed).code).toBe(1013);
  });
});

describe('the size limit', () => {
  const maxLineBytes = 64 * 1024;

  it('accepts a message of exactly maxLineBytes', async () => {
    const s = await start({ limits: { maxLineBytes } });
    const c = await raw(s.url);
    const head = '{"id":1,"method":"hello","params":{"client":"';
    const pad = 'x'.repeat(maxLineBytes - head.length - 3);
    c.send(`${head}${pad}"}}`);
    // Accepted by the framing; the client name is over its own schema limit.
    expect(await c.next()).toMatchObject({ id: 1, error: { code: 'INVALID_PARAMS' } });
  });

  it.each([
    ['one byte over, in one frame', (ws: WebSocket) => ws.send('x'.repeat(maxLineBytes + 1))],
    ['10 MiB in one frame (refused from the frame header, before its payload)', (ws: WebSocket) => ws.send('x'.repeat(10 << 20))],
    ['over the limit in 16 KiB fragments', (ws: WebSocket) => { for (let i = 0; i < 5; i++) ws.send('x'.repeat(16 * 1024), { fin: i === 4 }); }],
    ['a small message in 2000 one-byte fragments', (ws: WebSocket) => { for (let i = 0; i < 2000; i++) ws.send('x', { fin: i === 1999 }); }],
  ])('answers %s with TOO_LARGE, then closes with 1009', async (_, sendIt) => {
    const s = await start({ limits: { maxLineBytes } });
    const c = await raw(s.url);
    sendIt(c.ws);
    expect(await c.next()).toEqual({ id: null, error: { code: 'TOO_LARGE', message: expect.stringContaining(`${maxLineBytes} bytes`) } });
    expect((await c.closed).code).toBe(1009);
    expect(s.control.stats().clients).toBe(0);
  });
});

describe('subscriptions over WebSocket', () => {
  it('bounds a subscriber that stops reading: bufferedAmount capped, ticks merged then resync, others unaffected', async () => {
    let now = 1_000_000;
    const maxQueuedBytes = 256 * 1024;
    const s = await start({ now: () => now, validateOutput: false, limits: { maxQueuedBytes, maxPendingTickRows: 3000, stuckTimeoutMs: 600_000 } });
    const stuck = await raw(s.url);
    stuck.send({ id: 1, method: 'subscribe', params: { topics: ['tick'] } });
    expect(await stuck.next()).toEqual({ id: 1, result: { topics: ['tick'], intervalMs: 1000 } });
    stuck.ws.pause(); // stops reading its socket: the kernel buffers fill, then ws's bufferedAmount grows

    const healthy = await raw(s.url);
    healthy.send({ id: 1, method: 'subscribe', params: { topics: ['tick'] } });
    await healthy.next();
    let healthyLast = 0, healthyResync = false;
    const healthyIds = new Set<number>();
    healthy.ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.event !== 'tick') return;
      healthyLast = m.data.seq; healthyResync ||= !!m.data.resync;
      for (const a of m.data.sessions.added) healthyIds.add(a.id);
    });

    let peakQueued = 0, peakRows = 0, tickBytes = 0;
    const TICKS = 120;
    for (let seq = 1; seq <= TICKS; seq++) {
      const t = tick(seq, 500, seq * 1000);          // ~200 KB each, 24 MB in all (loopback TCP buffers absorb several MB)
      tickBytes = Math.max(tickBytes, JSON.stringify({ event: 'tick', data: t }).length);
      s.control.broadcast('tick', t);
      now += 1000;
      await sleep(5);
      const st = s.control.stats();
      peakQueued = Math.max(peakQueued, st.maxQueuedBytesPerClient);
      peakRows = Math.max(peakRows, st.pendingTickRows);
    }
    for (let i = 0; i < 200 && healthyLast < TICKS; i++) await sleep(10);
    const st = s.control.stats();
    // The cap plus one pending tick in flight: usually one tick, but when the client's buffer dips
    // under the cap between broadcasts, the pending tick written then may hold merged ticks (up to
    // maxPendingTickRows + one tick's rows) — the server's documented bound.
    const mergedTickBytes = JSON.stringify({ event: 'tick', data: tick(0, 3000 + 500) }).length;
    expect(peakQueued).toBeLessThanOrEqual(maxQueuedBytes + Math.max(tickBytes, mergedTickBytes));
    expect(peakRows).toBeLessThanOrEqual(3000 + 500);
    expect(st.resyncs).toBeGreaterThan(0);
    expect(st.clients).toBe(2);
    expect([healthyLast, healthyIds.size, healthyResync]).toEqual([TICKS, TICKS * 500, false]);

    stuck.ws.resume();
    let last: any;
    for (;;) { last = await stuck.next(); if (last.data?.resync) break; }
    expect(last.data).toMatchObject({ resync: true, seq: TICKS });
  }, 30_000);

  it('disconnects a WebSocket subscriber whose output stays over the cap for stuckTimeoutMs', async () => {
    let now = 1_000_000;
    const s = await start({ now: () => now, validateOutput: false, limits: { maxQueuedBytes: 64 * 1024, stuckTimeoutMs: 10_000 } });
    const stuck = await raw(s.url);
    stuck.send({ id: 1, method: 'subscribe', params: { topics: ['tick'] } });
    await stuck.next();
    stuck.ws.pause();
    for (let seq = 1; seq <= 120 && s.control.stats().clients > 0; seq++) {
      s.control.broadcast('tick', tick(seq, 500, seq * 1000));
      now += 1000;
      await sleep(5);
    }
    expect(s.control.stats()).toMatchObject({ clients: 0, disconnectedSlow: 1 });
    stuck.ws.resume();
    expect((await stuck.closed).code).toBe(1006); // terminated: no close frame fits in a full buffer
  }, 20_000);

  it('coalesces ticks within a WebSocket subscriber\'s interval, like on the socket', async () => {
    let now = 1_000_000;
    const s = await start({ now: () => now });
    const c = await raw(s.url);
    c.send({ id: 1, method: 'subscribe', params: { topics: ['tick'], intervalMs: 3000 } });
    await c.next();
    s.control.broadcast('tick', tick(1, 2, 1));
    now += 1000;
    s.control.broadcast('tick', { ...tick(2), sessions: { added: [session(3)], updated: [], removed: [] } });
    now += 2000;
    s.control.broadcast('tick', { ...tick(3), sessions: { added: [], updated: [], removed: [3, 2] } });
    const first: Tick = (await c.next()).data;
    const second: Tick = (await c.next()).data;
    expect([first.seq, second.seq, second.sessions]).toEqual([1, 3, { added: [], updated: [], removed: [2] }]);
  });
});

describe('one server, two transports', () => {
  let dir = '';
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sy-ws-')); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('serves the Unix socket and WebSocket clients with one handler set and one broadcast', async () => {
    const h = fakeHandlers();
    const control: ControlServer = await startControlServer({ socketPath: join(dir, 'c.sock'), group: 'root', handlers: h.handlers, log: silentLogger, version: '0.1.0-test' });
    cleanups.push(() => control.close());
    const transport = new WebSocketTransport({ address: 'ws test', subprotocol: WS_SUBPROTOCOL, log: silentLogger, heartbeatMs: 0 });
    await control.attach(transport);
    const httpMod = await import('node:http');
    const server = httpMod.createServer();
    server.on('upgrade', (req, socket, head) => transport.handleUpgrade(req, socket, head, 'web ui test'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => { server.closeAllConnections(); return new Promise((r) => server.close(r)); });
    const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}/`;

    const unix = await ControlClient.connect({ socketPath: join(dir, 'c.sock') });
    cleanups.push(() => unix.close());
    const web = await WsClient.connect({ url, token: 'unused-by-this-transport', WebSocket, reconnect: false });
    cleanups.push(() => web.close());

    // A change through one is seen through the other: one handler set.
    await web.api.routingSet({ enabled: false });
    expect((await unix.api.status()).routing).toBe(false);
    const err = await web.api.sessionsClose({ id: 999 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ code: 'SESSION_NOT_FOUND', details: { id: 999 } });

    const got: string[] = [];
    unix.on('tick', (t) => got.push(`unix ${t.seq}`));
    web.on('tick', (t) => got.push(`web ${t.seq}`));
    await Promise.all([unix.api.subscribe({ topics: ['tick'] }), web.api.subscribe({ topics: ['tick'] })]);
    expect(control.stats()).toMatchObject({ clients: 2, subscribers: 2 });
    control.broadcast('tick', tick(5));
    for (let i = 0; i < 50 && got.length < 2; i++) await sleep(10);
    expect(got.sort()).toEqual(['unix 5', 'web 5']);

    // Closing the server closes both kinds of client.
    const states: string[] = [];
    web.onState((st) => states.push(st));
    await control.close();
    for (let i = 0; i < 50 && states.length === 0; i++) await sleep(10);
    expect(states[0]).toBe('disconnected');
    expect(transport.listening).toBe(false);
  });
});
