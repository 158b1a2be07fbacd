// ServiceConnection: retries until the first connect, surfaces every state change, renews the tick
// subscription, polls routing; and once against a real control server on a Unix socket that stops
// and comes back (the real ControlClient's reconnect, seen through the snapshot).
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ControlClient } from '../../app/control/client.js';
import { startControlServer, type ControlServer } from '../../app/control/server.js';
import type { ControlTransport } from '../../app/control/transport.js';
import { silentLogger } from '../../app/log.js';
import { ProtocolError } from '../../app/protocol/index.js';
import { ServiceConnection, bridgeState, type ServiceSnapshot } from '../../main/service-connection.js';
import { fakeHandlers } from '../unit/control/fakes.js';
import { FakeClient, flush } from './fakes.js';

const STATUS = {
  version: '0.1.0', uptimeMs: 1, routing: false, tun: { name: 'sy0', mtu: 1500, offload: true }, egress: { interface: 'eth0' },
  counts: { sessions: { tcp: 0, udp: 0, icmp: 0, total: 0 }, bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, drops: {} },
};
const unavailable = () => new ProtocolError('UNAVAILABLE', 'the Switchyard service is not running (no socket at /x); is the service running? (switchyard up)');

afterEach(() => { vi.useRealTimers(); });

describe('ServiceConnection with a fake client', () => {
  it('retries with backoff until the first connect succeeds, reporting why it is down', async () => {
    vi.useFakeTimers();
    const client = new FakeClient({ status: () => STATUS });
    let attempts = 0;
    const conn = new ServiceConnection({
      connect: async () => { attempts++; if (attempts < 3) throw unavailable(); return client; },
      retry: { initialDelayMs: 100, maxDelayMs: 1000 },
    });
    const seen: ServiceSnapshot[] = [];
    conn.onChange((s) => seen.push(s));
    conn.start();
    await flush();
    expect(conn.snapshot).toMatchObject({ connected: false, error: { code: 'UNAVAILABLE' } });
    expect(bridgeState(conn.snapshot)).toMatchObject({ state: 'disconnected', error: { code: 'UNAVAILABLE' } });
    await vi.advanceTimersByTimeAsync(99);
    expect(attempts).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempts).toBe(2);
    await vi.advanceTimersByTimeAsync(200); // doubled
    expect(attempts).toBe(3);
    expect(conn.snapshot).toEqual({ connected: true, routing: false, error: null });
    expect(seen.map((s) => s.connected)).toEqual([false, true, true]); // down, up, routing read
    conn.stop();
    expect(client.closed).toBe(true);
  });

  it('reports a lost connection and the reconnect (done by the client itself), and reads status again', async () => {
    const client = new FakeClient({ status: () => STATUS });
    const conn = new ServiceConnection({ connect: async () => client });
    conn.start();
    await flush();
    client.setState('disconnected', new ProtocolError('UNAVAILABLE', 'the connection to the Switchyard service was lost'));
    expect(conn.snapshot).toEqual({ connected: false, routing: null, error: { code: 'UNAVAILABLE', message: 'the connection to the Switchyard service was lost' } });
    await expect(conn.call('status', {})).resolves.toBeDefined(); // the client answers or fails by itself while reconnecting
    client.setState('connected');
    await flush();
    expect(conn.snapshot).toEqual({ connected: true, routing: false, error: null });
    expect(client.methods().filter((m) => m === 'status').length).toBeGreaterThanOrEqual(3);
    conn.stop();
  });

  it('after FORBIDDEN (the client stops retrying) drops the client and retries itself', async () => {
    vi.useFakeTimers();
    const first = new FakeClient({ status: () => STATUS }), second = new FakeClient({ status: () => ({ ...STATUS, routing: true }) });
    const clients = [first, second];
    const conn = new ServiceConnection({ connect: async () => clients.shift()!, retry: { initialDelayMs: 50 } });
    conn.start();
    await flush();
    first.setState('disconnected', new ProtocolError('FORBIDDEN', 'permission denied on /run/switchyard/control.sock'));
    expect(first.closed).toBe(true);
    expect(conn.snapshot.error?.code).toBe('FORBIDDEN');
    await expect(conn.call('status', {})).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await vi.advanceTimersByTimeAsync(50);
    expect(conn.snapshot).toEqual({ connected: true, routing: true, error: null });
    conn.stop();
  });

  it('subscribes to ticks only while wanted, also when wanted before connecting', async () => {
    const client = new FakeClient({ status: () => STATUS, subscribe: () => ({ topics: ['tick'], intervalMs: 1000 }), unsubscribe: () => ({ topics: [] }) });
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const conn = new ServiceConnection({ connect: async () => { await gate; return client; } });
    conn.start();
    conn.setTicksWanted(true); // a window opened while connecting
    release();
    await flush();
    expect(client.methods()).toContain('subscribe');
    const events: number[] = [];
    conn.onEvent((e) => events.push(e.data.seq));
    const t = { seq: 7, at: 1, intervalMs: 1000, sessions: { added: [], updated: [], removed: [] }, apps: [], devices: [], totals: { sessions: 0, bytesIn: 0, bytesOut: 0, bytesInPerSec: 0, bytesOutPerSec: 0 } };
    client.emit('tick', t);
    conn.setTicksWanted(false);
    await flush();
    expect(client.methods().at(-1)).toBe('unsubscribe');
    client.emit('tick', { ...t, seq: 8 });
    expect(events).toEqual([7]);
    conn.stop();
  });

  it('polls status while connected (routing changed by the CLI shows up) and keeps a failed toggle as the error', async () => {
    vi.useFakeTimers();
    let routing = false;
    const client = new FakeClient({
      status: () => ({ ...STATUS, routing }),
      'routing.set': () => { throw new ProtocolError('INTERNAL', 'routing could not be changed'); },
    });
    const conn = new ServiceConnection({ connect: async () => client, statusIntervalMs: 1000 });
    conn.start();
    await flush();
    expect(conn.snapshot.routing).toBe(false);
    routing = true; // `switchyard on` from a terminal
    await vi.advanceTimersByTimeAsync(1000);
    expect(conn.snapshot.routing).toBe(true);
    await expect(conn.setRouting(false)).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(conn.snapshot.error).toEqual({ code: 'INTERNAL', message: 'routing could not be changed' });
    await vi.advanceTimersByTimeAsync(1000); // the next good status clears it
    expect(conn.snapshot.error).toBeNull();
    conn.stop();
    const calls = client.calls.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(client.calls.length).toBe(calls); // no polling after stop
  });

  it('routing.set through call() updates the snapshot at once', async () => {
    const client = new FakeClient({ status: () => STATUS, 'routing.set': (p) => ({ routing: p.enabled }) });
    const conn = new ServiceConnection({ connect: async () => client });
    conn.start();
    await flush();
    await conn.call('routing.set', { enabled: true });
    expect(conn.snapshot.routing).toBe(true);
    conn.stop();
  });
});

/** A transport that admits every local peer (the access check is the service's, tested elsewhere). */
function openTransport(socketPath: string): ControlTransport {
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  return {
    address: socketPath,
    listen: (onConnection) => new Promise((resolve, reject) => {
      server.on('connection', (s) => onConnection(s, { allowed: true, peer: 'test' }));
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('ServiceConnection with the real ControlClient and control server', () => {
  it('connects, loses the service, reconnects by itself, and reports each step', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sy-main-'));
    const socketPath = path.join(dir, 'control.sock');
    const start = () => startControlServer({ socketPath, group: 'root', handlers: fakeHandlers().handlers, log: silentLogger, version: 't', transport: openTransport(socketPath) });
    let server: ControlServer | null = null;
    const conn = new ServiceConnection({
      connect: () => ControlClient.connect({ socketPath, reconnect: { initialDelayMs: 20, maxDelayMs: 50 }, clientName: 'test' }),
      retry: { initialDelayMs: 20, maxDelayMs: 50 },
    });
    const states: string[] = [];
    conn.onChange((s) => { const b = bridgeState(s); const last = states.at(-1); const cur = b.error ? `${b.state}:${b.error.code}` : b.state; if (cur !== last) states.push(cur); });
    const until = async (what: () => boolean) => { for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 10)); expect(what()).toBe(true); };
    try {
      conn.start(); // nothing listens yet
      await until(() => states.includes('disconnected:UNAVAILABLE'));
      server = await start();
      await until(() => conn.snapshot.connected && conn.snapshot.routing !== null);
      expect(conn.snapshot.routing).toBe(true);
      expect(await conn.call('routing.set', { enabled: false })).toEqual({ routing: false });
      await server.close();
      await until(() => !conn.snapshot.connected);
      server = await start();
      await until(() => conn.snapshot.connected);
      expect(states).toEqual(['disconnected:UNAVAILABLE', 'connected', 'disconnected:UNAVAILABLE', 'connected']);
    } finally {
      conn.stop();
      await server?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
