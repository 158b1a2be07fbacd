// RelayDialer contract (app/os/relay.ts) of the Linux splice relay: the worker opens, binds and
// connects the outbound itself, then joins it with the app's socket. Loopback only, no root.
//
//   app ──▶ front listener (pauseOnConnect) = a ══ relay.joinDialed(a, dialled) ══ dialled ──▶ server
//
// Like relay-splice.test.ts, the relay is imported from dist/ (the worker runs compiled JavaScript).
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DialedSocket, DialTarget, RelayDialer, RelayResult, StreamRelay } from '../../../app/os/relay.js';
import { silentLogger } from '../../../app/log.js';
import type * as Splice from '../../../native/relay/linux-splice.js';
import type * as OnDemand from '../../../native/relay/on-demand.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
let SpliceRelay: typeof Splice.SpliceRelay;
let OnDemandRelay: typeof OnDemand.OnDemandRelay;

beforeAll(async () => {
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  } catch (err) {
    if (!existsSync(join(ROOT, 'dist/native/relay/splice-worker.js'))) throw err;
  }
  ({ SpliceRelay } = (await import(pathToFileURL(join(ROOT, 'dist/native/relay/linux-splice.js')).href)) as typeof Splice);
  ({ OnDemandRelay } = (await import(pathToFileURL(join(ROOT, 'dist/native/relay/on-demand.js')).href)) as typeof OnDemand);
}, 120_000);

const V4 = (a: string) => Uint8Array.from(a.split('.').map(Number));
const LOOP6 = Uint8Array.from([...new Array(15).fill(0), 1]);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fdCount = () => readdirSync('/proc/self/fd').length;

/** Resolves with the dial's result code (null = connected). */
function dial(d: RelayDialer, target: DialTarget): { handle: DialedSocket; result: Promise<string | null> } {
  let resolve!: (c: string | null) => void;
  const result = new Promise<string | null>((r) => { resolve = r; });
  const handle = d.dial(target, resolve);
  if (handle === null) throw new Error('the relay did not dial');
  return { handle, result };
}

/** Reads a socket to its end (or error); resolves with what came and how it ended. */
function drain(s: net.Socket): Promise<{ data: Buffer; end: string }> {
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve({ data: Buffer.concat(chunks), end: 'end' }));
    s.once('error', (e: NodeJS.ErrnoException) => resolve({ data: Buffer.concat(chunks), end: e.code ?? 'error' }));
    s.resume();
  });
}

interface Lab {
  /** Server connections in arrival order. */
  accepted: net.Socket[];
  serverPort: number;
  /** Connects an app socket through the front listener; resolves with the front's side (a) and the app's. */
  front(): Promise<{ a: net.Socket; app: net.Socket }>;
  close(): Promise<void>;
}

async function lab(host = '127.0.0.1', onServer?: (s: net.Socket) => void): Promise<Lab> {
  const accepted: net.Socket[] = [];
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => { sockets.add(s); s.on('error', () => {}); s.once('close', () => sockets.delete(s)); return s; };
  const server = net.createServer({ allowHalfOpen: true }, (s) => { track(s); accepted.push(s); onServer?.(s); });
  const waiting: Array<(a: net.Socket) => void> = [];
  const frontServer = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (a) => { track(a); waiting.shift()?.(a); });
  await new Promise<void>((r) => server.listen(0, host, r));
  await new Promise<void>((r) => frontServer.listen(0, '127.0.0.1', r));
  return {
    accepted,
    serverPort: (server.address() as net.AddressInfo).port,
    async front() {
      const a = new Promise<net.Socket>((r) => waiting.push(r));
      const app = track(net.connect({ host: '127.0.0.1', port: (frontServer.address() as net.AddressInfo).port, allowHalfOpen: true }));
      await new Promise<void>((r) => app.once('connect', () => r()));
      return { a: await a, app };
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => frontServer.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe.skipIf(process.platform !== 'linux')('splice relay dialer', () => {
  let relay: Splice.SpliceRelay | null = null;
  let l: Lab | null = null;
  afterEach(async () => { await relay?.close(); relay = null; await l?.close(); l = null; });

  it('dials, joins the app socket and moves 8 MiB each way intact, counted; a clean close is a clean close', async () => {
    relay = await SpliceRelay.start({ log: silentLogger });
    const up = randomBytes(8 << 20), down = randomBytes(8 << 20);
    l = await lab('127.0.0.1', (s) => {
      void drain(s).then((r) => { s.end(down); upSeen.resolve(r); });
    });
    let seen!: (r: { data: Buffer; end: string }) => void;
    const upSeen = { promise: new Promise<{ data: Buffer; end: string }>((r) => { seen = r; }), resolve: (r: { data: Buffer; end: string }) => seen(r) };
    const d = dial(relay.dialer!, { family: 4, address: V4('127.0.0.1'), port: l.serverPort, localAddress: V4('127.0.0.1') });
    expect(await d.result).toBeNull();
    const { a, app } = await l.front();
    const done = new Promise<RelayResult>((r) => relay!.joinDialed(a, d.handle, r));
    const appGot = drain(app);
    app.end(up);
    const [server, back, result] = await Promise.all([upSeen.promise, appGot, done]);
    expect(server.end).toBe('end');
    expect(sha(server.data)).toBe(sha(up));
    expect(back.end).toBe('end');
    expect(sha(back.data)).toBe(sha(down));
    expect(result).toEqual({ reason: 'closed', aToB: up.length, bToA: down.length });
  });

  it('binds the source address it is given (the egress) and dials IPv6', async () => {
    relay = await SpliceRelay.start({ log: silentLogger });
    l = await lab('127.0.0.1');
    const d4 = dial(relay.dialer!, { family: 4, address: V4('127.0.0.1'), port: l.serverPort, localAddress: V4('127.0.0.2') });
    expect(await d4.result).toBeNull();
    await waitUntil(() => l!.accepted.length === 1);
    expect(l.accepted[0]!.remoteAddress).toBe('127.0.0.2');
    relay.abandon(d4.handle);
    const l6 = await lab('::1');
    try {
      const d6 = dial(relay.dialer!, { family: 6, address: LOOP6, port: l6.serverPort, localAddress: null });
      expect(await d6.result).toBeNull();
      await waitUntil(() => l6.accepted.length === 1);
      expect(l6.accepted[0]!.remoteAddress).toBe('::1');
      relay.abandon(d6.handle);
    } finally {
      await l6.close();
    }
  });

  it("answers a closed port with 'ECONNREFUSED' and keeps no fd", async () => {
    relay = await SpliceRelay.start({ log: silentLogger });
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const before = fdCount();
    for (let i = 0; i < 20; i++) {
      const d = dial(relay.dialer!, { family: 4, address: V4('127.0.0.1'), port, localAddress: null });
      expect(await d.result).toBe('ECONNREFUSED');
    }
    expect(fdCount()).toBe(before);
  });

  it('abandoning a dial at once never calls back; abandoning a connected one resets the server', async () => {
    relay = await SpliceRelay.start({ log: silentLogger });
    l = await lab('127.0.0.1');
    const before = fdCount();
    let called = 0;
    for (let i = 0; i < 50; i++) {
      const h = relay.dialer!.dial({ family: 4, address: V4('127.0.0.1'), port: l.serverPort, localAddress: null }, () => { called++; });
      relay.abandon(h!);
    }
    const d = dial(relay.dialer!, { family: 4, address: V4('127.0.0.1'), port: l.serverPort, localAddress: null });
    expect(await d.result).toBeNull();
    await waitUntil(() => l!.accepted.length >= 51);
    const last = l.accepted[l.accepted.length - 1]!;
    const ended = drain(last);
    relay.abandon(d.handle);
    expect((await ended).end).toBe('ECONNRESET');
    await sleep(50);
    expect(called).toBe(0);
    expect(fdCount()).toBe(before);
  });

  it('a reset of the joined app socket (a session closed by the user) resets both ends', async () => {
    relay = await SpliceRelay.start({ log: silentLogger });
    l = await lab('127.0.0.1');
    const d = dial(relay.dialer!, { family: 4, address: V4('127.0.0.1'), port: l.serverPort, localAddress: null });
    expect(await d.result).toBeNull();
    await waitUntil(() => l!.accepted.length === 1);
    const server = drain(l.accepted[0]!);
    const { a, app } = await l.front();
    const appEnd = drain(app);
    const done = new Promise<RelayResult>((r) => relay!.joinDialed(a, d.handle, r));
    app.write('hello');
    await sleep(50);
    expect(relay.reset(a)).toBe(true);
    expect((await done).reason).toBe('shutdown');
    expect((await appEnd).end).toBe('ECONNRESET');
    const s = await server;
    expect(s.end).toBe('ECONNRESET');
    expect(s.data.toString()).toBe('hello');
  });

  it("close() answers dials still in flight with 'ECONNABORTED' and leaves no fd behind", async () => {
    relay = await SpliceRelay.start({ log: silentLogger });
    l = await lab('127.0.0.1');
    const before = fdCount();
    const connected = dial(relay.dialer!, { family: 4, address: V4('127.0.0.1'), port: l.serverPort, localAddress: null });
    expect(await connected.result).toBeNull();
    const inFlight = dial(relay.dialer!, { family: 4, address: V4('127.0.0.1'), port: l.serverPort, localAddress: null });
    await relay.close();
    const code = await inFlight.result;
    // The worker may have connected it before it stopped: either way the caller hears once.
    expect([null, 'ECONNABORTED']).toContain(code);
    expect(relay.dialer).toBeNull();
    relay = null;
    await sleep(20);
    expect(fdCount()).toBeLessThanOrEqual(before);
  });
});

describe.skipIf(process.platform !== 'linux')('on-demand relay dialer', () => {
  let relay: StreamRelay | null = null;
  let l: Lab | null = null;
  afterEach(async () => { await relay?.close(); relay = null; await l?.close(); l = null; });

  it('dials only while its worker runs, and the worker is not stopped for idleness under an outstanding dial', async () => {
    relay = new OnDemandRelay('splice', () => SpliceRelay.start({ log: silentLogger }), { idleMs: 100, log: silentLogger });
    expect(relay.dialer).toBeNull(); // nothing started it yet: the caller dials through Node
    l = await lab('127.0.0.1');
    // A first join starts the worker.
    const { a, app } = await l.front();
    const b = net.connect({ host: '127.0.0.1', port: l.serverPort });
    await new Promise<void>((r) => b.once('connect', () => r()));
    b.pause();
    const first = new Promise<RelayResult>((r) => relay!.join(a, b, r));
    await waitUntil(() => relay!.dialer != null);
    app.destroy();
    await waitUntil(() => l!.accepted.length === 1);
    l.accepted[0]!.end();
    await first;
    const d = dial(relay.dialer!, { family: 4, address: V4('127.0.0.1'), port: l.serverPort, localAddress: null });
    expect(await d.result).toBeNull();
    await sleep(300); // three idle periods with only the dialled socket outstanding
    expect(relay.dialer).not.toBeNull();
    const f = await l.front();
    const echoed = new Promise<RelayResult>((r) => relay!.dialer!.joinDialed(f.a, d.handle, r));
    f.app.end('x');
    await waitUntil(() => l!.accepted.length === 2);
    l.accepted[1]!.end();
    expect((await echoed).aToB).toBe(1);
    await sleep(300);
    expect(relay.dialer).toBeNull(); // idle again: the worker stopped
  });
});

async function waitUntil(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}
