// Upstream proxies named in the config (SOCKS5, HTTP CONNECT): how to reach each one, whether it is
// up, and how a flow is carried through it.
//
//   rule says "upstream: corp" ─▶ Upstream.dialTcp(target) ─▶ socket to the proxy (bypasses the TUN)
//                                   └─ handshake (SOCKS5 CONNECT / HTTP CONNECT) ─▶ ready(leftover)
//   health: a check every health.intervalMs (every RETRY_DOWN_MS while down); a dial whose proxy
//           failed marks it down at once, so the next flows take their rule's fallback without waiting.
//
// The proxy's own address bypasses the TUN like every direct socket: it is dialled by the
// DirectOutbound (bound to the egress address). A proxy on loopback is dialled as is (loopback never
// enters the TUN). A proxy given by name is resolved when checked, not per flow.
import dns from 'node:dns/promises';
import type net from 'node:net';
import type { Logger } from '../log.js';
import { parseAddress } from '../net/cidr.js';
import { socks5Connect, socks5UdpAssociate, socks5Greet } from './socks5.js';
import { httpConnect } from './http-connect.js';
import { UpstreamError } from './upstream-error.js';

/** An upstream as configured (validated by app/service/config.ts). */
export interface UpstreamSpec {
  name: string;
  type: 'socks5' | 'http';
  /** Host name or IP literal of the proxy. */
  address: string;
  port: number;
  username?: string;
  password?: string;
  /** SOCKS5: carry UDP flows with UDP ASSOCIATE (false: UDP flows take the rule's fallback). */
  udp: boolean;
  health: { intervalMs: number; timeoutMs: number };
}

export type UpstreamState = 'unknown' | 'up' | 'down';

/** What the API reports about an upstream. */
export interface UpstreamStatus {
  name: string;
  type: 'socks5' | 'http';
  address: string;
  port: number;
  auth: boolean;
  udp: boolean;
  state: UpstreamState;
  /** When the state last changed / was last checked (epoch ms; 0 = never). */
  since: number;
  checkedAt: number;
  /** Round trip of the last successful check (connect + greeting), ms. */
  latencyMs: number | null;
  /** Why it is down, in words. */
  error: string | null;
  /** Flows carried and flows that failed because of the proxy, since start. */
  flows: number;
  failures: number;
}

/** Connects to a proxy's address:port around the TUN (DirectOutbound.dialAround). */
export type AroundDialer = (host: string, port: number, family: 4 | 6) => net.Socket | null;

/** A TCP flow in progress through an upstream: the socket exists at once, the tunnel when `ready` settles. */
export interface UpstreamDial {
  socket: net.Socket;
  /** Resolves with the bytes the proxy already sent after its reply; rejects with an UpstreamError. */
  ready: Promise<Buffer>;
}

/** How long a proxy that failed waits for its next check. */
const RETRY_DOWN_MS = 5000;

export class Upstream {
  readonly #log: Logger;
  readonly #dial: AroundDialer;
  #timer: NodeJS.Timeout | null = null;
  #checking: Promise<void> | null = null;
  #resolved: { host: string; family: 4 | 6; at: number } | null = null;
  state: UpstreamState = 'unknown';
  since = 0;
  checkedAt = 0;
  latencyMs: number | null = null;
  error: string | null = null;
  flows = 0;
  failures = 0;

  constructor(readonly spec: UpstreamSpec, dial: AroundDialer, log: Logger) {
    this.#dial = dial;
    this.#log = log;
  }

  get name(): string { return this.spec.name; }
  /** True when UDP flows can go through it. */
  get carriesUdp(): boolean { return this.spec.type === 'socks5' && this.spec.udp; }
  get #auth() { return this.spec.username !== undefined ? { username: this.spec.username, password: this.spec.password ?? '' } : undefined; }

  /** Starts the periodic health checks (the first one at once). */
  start(): void {
    if (this.#timer === null) this.#schedule(0);
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(ms: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.check().finally(() => this.#schedule(this.state === 'down' ? Math.min(RETRY_DOWN_MS, this.spec.health.intervalMs) : this.spec.health.intervalMs)), ms);
    this.#timer.unref();
  }

  /** One health check: connect to the proxy and greet it (SOCKS5: method and auth; HTTP: connect). */
  check(): Promise<void> {
    this.#checking ??= (async () => {
      const started = Date.now();
      let sock: net.Socket | null = null;
      try {
        const { host, family } = await this.#resolve(true);
        sock = this.#dial(host, this.spec.port, family);
        if (sock === null) throw new UpstreamError('PROXY_UNREACHABLE', 'ENETUNREACH', true, `no egress address for IPv${family}`);
        if (this.spec.type === 'socks5') await socks5Greet(sock, { ...(this.#auth && { auth: this.#auth }), timeoutMs: this.spec.health.timeoutMs });
        else await waitConnected(sock, this.spec.health.timeoutMs);
        this.latencyMs = Date.now() - started;
        this.#set('up', null);
      } catch (err) {
        this.#set('down', describe(err));
      } finally {
        sock?.destroy();
        this.checkedAt = Date.now();
        this.#checking = null;
      }
    })();
    return this.#checking;
  }

  /** A dial found the proxy itself failing: down now, checked again soon. */
  markDown(err: unknown): void {
    this.failures++;
    if (this.state !== 'down') this.#set('down', describe(err));
    if (this.#timer !== null) this.#schedule(Math.min(RETRY_DOWN_MS, this.spec.health.intervalMs));
  }

  #set(state: UpstreamState, error: string | null): void {
    if (state !== this.state) {
      this.since = Date.now();
      if (state === 'down') this.#log.warn(`upstream ${this.name} is down: flows of its rules take their fallback`, { error: error ?? '' });
      else if (state === 'up' && this.state === 'down') this.#log.info(`upstream ${this.name} is up again`);
    }
    this.state = state;
    this.error = error;
  }

  /** The proxy's address as an IP literal; a name is resolved at most once a minute (or on every check). */
  async #resolve(fresh = false): Promise<{ host: string; family: 4 | 6 }> {
    const a = parseAddress(this.spec.address);
    if (typeof a !== 'string') return { host: this.spec.address, family: a.family };
    const r = this.#resolved;
    if (!fresh && r !== null && Date.now() - r.at < 60_000) return r;
    try {
      const found = await dns.lookup(this.spec.address);
      this.#resolved = { host: found.address, family: found.family === 6 ? 6 : 4, at: Date.now() };
      return this.#resolved;
    } catch (err) {
      throw new UpstreamError('PROXY_UNREACHABLE', 'EHOSTUNREACH', true, `cannot resolve ${this.spec.address}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  /**
   * Starts a TCP flow to `target` (host: a domain when known — the proxy resolves it, so no DNS
   * query leaks — else the destination address). Returns null when the proxy cannot be dialled at
   * all right now (no egress for its family; a name not resolved yet).
   */
  dialTcp(target: { host: string; port: number }, timeoutMs: number): UpstreamDial | null {
    const a = parseAddress(this.spec.address);
    const r = typeof a === 'string' ? this.#resolved : { host: this.spec.address, family: a.family };
    if (r === null) return null;
    const socket = this.#dial(r.host, this.spec.port, r.family);
    if (socket === null) return null;
    this.flows++;
    const opts = { ...(this.#auth && { auth: this.#auth }), timeoutMs };
    const ready = this.spec.type === 'socks5'
      ? socks5Connect(socket, target, opts).then((h) => h.leftover)
      : httpConnect(socket, target, opts).then((h) => h.leftover);
    return { socket, ready };
  }

  /**
   * Opens a SOCKS5 UDP association: the control connection (the association lives as long as it
   * does) and the relay address datagrams are sent to.
   */
  async udpAssociate(timeoutMs: number): Promise<{ control: net.Socket; relay: { host: string; port: number; family: 4 | 6 } }> {
    const r = await this.#resolve();
    const control = this.#dial(r.host, this.spec.port, r.family);
    if (control === null) throw new UpstreamError('PROXY_UNREACHABLE', 'ENETUNREACH', true, `no egress address for IPv${r.family}`);
    try {
      const { relay } = await socks5UdpAssociate(control, { ...(this.#auth && { auth: this.#auth }), timeoutMs });
      const ra = parseAddress(relay.host);
      return { control, relay: { host: relay.host, port: relay.port, family: typeof ra === 'string' ? r.family : ra.family } };
    } catch (err) {
      control.destroy();
      throw err;
    }
  }

  status(): UpstreamStatus {
    return {
      name: this.name, type: this.spec.type, address: this.spec.address, port: this.spec.port,
      auth: this.spec.username !== undefined, udp: this.carriesUdp,
      state: this.state, since: this.since, checkedAt: this.checkedAt, latencyMs: this.latencyMs, error: this.error,
      flows: this.flows, failures: this.failures,
    };
  }
}

/** The configured upstreams by name. */
export class UpstreamSet {
  readonly #byName = new Map<string, Upstream>();
  readonly #dial: AroundDialer;
  readonly #log: Logger;
  #started = false;

  constructor(specs: readonly UpstreamSpec[], dial: AroundDialer, log: Logger) {
    this.#dial = dial;
    this.#log = log;
    for (const s of specs) this.#byName.set(s.name, new Upstream(s, dial, log));
  }

  get(name: string): Upstream | undefined { return this.#byName.get(name); }
  get names(): string[] { return [...this.#byName.keys()]; }
  list(): Upstream[] { return [...this.#byName.values()]; }

  /** Starts health checks; resolves when every upstream has been checked once. */
  async start(): Promise<void> {
    this.#started = true;
    await Promise.all(this.list().map((u) => u.check()));
    for (const u of this.list()) u.start();
  }

  /** Replaces the set (config change): unchanged upstreams keep their state. */
  update(specs: readonly UpstreamSpec[]): void {
    const next = new Map<string, Upstream>();
    for (const s of specs) {
      const old = this.#byName.get(s.name);
      if (old && JSON.stringify(old.spec) === JSON.stringify(s)) { next.set(s.name, old); continue; }
      old?.stop();
      const u = new Upstream(s, this.#dial, this.#log);
      if (this.#started) u.start();
      next.set(s.name, u);
    }
    for (const [name, u] of this.#byName) if (!next.has(name)) u.stop();
    this.#byName.clear();
    for (const [k, v] of next) this.#byName.set(k, v);
  }

  stop(): void {
    for (const u of this.#byName.values()) u.stop();
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Resolves when a dialled socket connects; rejects as PROXY_UNREACHABLE on error or timeout. */
function waitConnected(sock: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!sock.connecting && !sock.destroyed) { resolve(); return; }
    const done = (err: Error | null) => {
      clearTimeout(timer);
      sock.off('connect', onConnect); sock.off('error', onError);
      if (err) reject(err); else resolve();
    };
    const onConnect = () => done(null);
    const onError = (e: NodeJS.ErrnoException) => done(new UpstreamError('PROXY_UNREACHABLE', 'ECONNREFUSED', true, `cannot connect to the proxy: ${e.code ?? e.message}`));
    const timer = setTimeout(() => done(new UpstreamError('PROXY_UNREACHABLE', 'ETIMEDOUT', true, 'no answer from the proxy')), timeoutMs);
    sock.once('connect', onConnect);
    sock.once('error', onError);
  });
}
