// OnDemandRelay: the worker-backed relay starts with the first pair, pairs wait for it (paused
// sockets, nothing lost), it stops when idle, and a relay that cannot start hands over to JS.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { OnDemandRelay } from '../../../native/relay/on-demand.js';
import { JsRelay } from '../../../app/engine/relay-js.js';
import { silentLogger } from '../../../app/log.js';
import type { StreamRelay } from '../../../app/os/relay.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A connected, paused socket pair a ⇄ client and b ⇄ server, as the engine hands them to a relay. */
async function pair(): Promise<{ a: net.Socket; b: net.Socket; client: net.Socket; server: net.Socket; close(): void }> {
  const accepted: net.Socket[] = [];
  const srv = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => accepted.push(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  const b = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  b.pause();
  await Promise.all([new Promise((r) => client.once('connect', r)), new Promise((r) => b.once('connect', r))]);
  while (accepted.length < 2) await sleep(5);
  const [a, server] = accepted.find((s) => s.remotePort === client.localPort) === accepted[0] ? [accepted[0]!, accepted[1]!] : [accepted[1]!, accepted[0]!];
  server.resume();
  for (const s of [a, b, client, server]) s.on('error', () => {}); // resets at teardown are expected
  return { a, b, client, server, close: () => { for (const s of [a, b, client, server]) s.destroy(); srv.close(); } };
}

describe('OnDemandRelay', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => { cleanup.splice(0).forEach((f) => f()); });

  it('starts the inner relay with the first pair, which waits for it and then flows', async () => {
    let starts = 0;
    const relay = new OnDemandRelay('test', async () => { starts++; await sleep(50); return new JsRelay(); }, { log: silentLogger, idleMs: 100 });
    expect(starts).toBe(0);
    const p = await pair(); cleanup.push(p.close);
    const got = new Promise<string>((r) => p.server.once('data', (d) => r(d.toString())));
    const stats = relay.join(p.a, p.b, () => {});
    p.client.write('hello');
    expect(await got).toBe('hello');
    expect(starts).toBe(1);
    await sleep(20);
    expect(stats.aToB).toBe(5);
    await relay.close();
  });

  it('stops the inner relay after idleMs without pairs and starts it again when needed', async () => {
    const inners: StreamRelay[] = [];
    let closed = 0;
    const relay = new OnDemandRelay('test', async () => {
      const j = new JsRelay();
      const close = j.close.bind(j);
      j.close = async () => { closed++; await close(); };
      inners.push(j);
      return j;
    }, { log: silentLogger, idleMs: 50 });
    const p1 = await pair(); cleanup.push(p1.close);
    const done1 = new Promise((r) => relay.join(p1.a, p1.b, r));
    p1.client.end(); p1.server.end();
    await done1;
    await sleep(120);
    expect(closed).toBe(1);
    const p2 = await pair(); cleanup.push(p2.close);
    relay.join(p2.a, p2.b, () => {});
    await sleep(20);
    expect(inners.length).toBe(2);
    await relay.close();
  });

  it('uses the JS relay when the inner one cannot start, for waiting and later pairs', async () => {
    const relay = new OnDemandRelay('test', async () => { throw new Error('no worker here'); }, { log: silentLogger });
    const p = await pair(); cleanup.push(p.close);
    const got = new Promise<string>((r) => p.server.once('data', (d) => r(d.toString())));
    relay.join(p.a, p.b, () => {});
    p.client.write('still works');
    expect(await got).toBe('still works');
    await relay.close();
  });
});
