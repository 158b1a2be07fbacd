// The service: composes the OS layer (native/) and the engine into a running router.
//
//   start:  recover leftovers (journal) → find egress → open TUN → engine listens → apply routes
//           → watch the network → "service ready"
//   stop:   withdraw routes → stop engine → close TUN (the OS removes it) → journal empty
//   network change: re-resolve the egress; if it changed, rebind direct sockets and re-apply routes
//   routing off/on: withdraw / re-apply the routes; the TUN and the engine keep running
//
// Routes go last on start and first on stop, so traffic only enters the TUN while the engine is
// there to forward it. Every OS change is journalled before it is made (RoutingManager), so a crash
// or kill -9 is undone by `switchyard cleanup` or by the next start.
import { availableParallelism } from 'node:os';
import type { Config } from './config.js';
import type { Logger } from '../log.js';
import type { EgressInfo, NetworkInfo, NetworkMonitor, RoutingManager, RoutingState } from '../os/routing.js';
import { routingState } from './routing-state.js';
import type { TunDevice } from '../os/tun.js';
import { DeviceNames, Engine } from '../engine/engine.js';
import { DirectOutbound } from '../outbound/direct.js';
import { createTunFactory } from '../../native/tun/index.js';
import { createIcmpEchoFactory, createSourceBoundSockets } from '../../native/socket/index.js';
import { createNetworkInfo, createNetworkMonitor, createRoutingManager } from '../../native/route/index.js';
import { createAppIcons, createNeighbourTable, createProcessResolver } from '../../native/process/index.js';
import type { AppIconSource } from '../os/process.js';
import { raiseOpenFileLimit } from '../../native/limits.js';
import { createStreamRelay } from '../../native/relay/index.js';
import { join } from 'node:path';
import { startControlServer, type ControlServer } from '../control/server.js';
import { TransportError } from '../control/transport.js';
import { UsageHistory } from '../stats/history.js';
import { ServiceApi, TICK_MS } from './api.js';
import { version } from '../version.js';
import { FlowRouter, RuleSet } from '../policy/router.js';
import { UpstreamSet } from '../outbound/upstreams.js';
import { DomainMap } from '../domains/domain-map.js';
import { CountryDb } from '../geo/country-db.js';
import { parseAction, parseRules } from '../rules/schema.js';
import { RulesManager } from './rules-manager.js';
import { ConfigStore, mapSet } from './config-store.js';
import type { WebUi } from '../ui/web-ui.js';
import { fileURLToPath } from 'node:url';
import { parseConfig } from './config.js';

export interface RunningService {
  /** Resolves when the service has stopped (after stop() or a fatal error). */
  readonly done: Promise<void>;
  /** Stops forwarding, restores routing, removes the TUN. Idempotent. */
  stop(reason: string): Promise<void>;
  /** The engine, for in-process observers (tests, later the control server). */
  readonly engine: Engine;
  /** True while traffic is routed into the TUN. */
  readonly routingEnabled: boolean;
  /** Withdraws (false) or re-applies (true) the routes; the TUN and the engine keep running. */
  setRouting(enabled: boolean): Promise<void>;
  /** The egress in use now. */
  readonly egress: EgressInfo;
  /** Where flows go: rules, upstreams, the domain map. */
  readonly router: FlowRouter;
  /** True while gateway mode routes other LAN devices' traffic. */
  readonly gatewayEnabled: boolean;
  /** Turns gateway mode on or off (saved to the config file); the service keeps running. */
  setGateway(enabled: boolean): Promise<void>;
}

/** How the service was started: the config file it came from (rule changes are saved there). */
export interface ServiceOptions {
  configPath?: string;
}

/** Validated config in, running service out; nothing on the OS is touched before this is called. */
export async function startService(config: Config, log: Logger, options: ServiceOptions = {}): Promise<RunningService> {
  // Two sockets per TCP session, one per UDP endpoint, plus headroom for the rest.
  const wantFiles = config.limits.maxSessions * 2 + 4096;
  const files = raiseOpenFileLimit(wantFiles);
  if (files !== -1 && files < wantFiles) log.warn('the open-file limit is below what limits.maxSessions needs; sessions will fail with EMFILE before the limit', { openFiles: files, wanted: wantFiles });

  const routing = createRoutingManager({ stateDir: config.stateDir, log });
  for (const line of await routing.recover()) log.warn(`recovered from an earlier run: ${line}`);

  const network = createNetworkInfo();
  const egress = await network.egress(config.egress.interface, [config.tun.name]);
  log.info('egress', describeEgress(egress));

  let tun: TunDevice | null = null;
  let engine: Engine | null = null;
  let direct: DirectOutbound;
  let router: FlowRouter;
  let deviceNames: DeviceNames;
  try {
    tun = await createTunFactory({ log }).open({ name: config.tun.name, mtu: config.tun.mtu, addresses: [config.tun.address4, config.tun.address6], offload: config.tun.offload, queues: tunQueues(config.engine.queues) });
    const icmp = await createIcmpEchoFactory().catch((err: Error) => {
      log.warn('icmp: echo forwarding unavailable', { error: err.message });
      return null;
    });
    direct = new DirectOutbound(egress, await createSourceBoundSockets());
    router = await createRouter(config, direct, log);
    deviceNames = new DeviceNames(config.devices);
    const resolver = !config.engine.attribution ? null : await createProcessResolver(log).catch((err: Error) => {
      log.warn('attribution: no process resolver; apps will show as unknown', { error: err.message });
      return null;
    });
    const neighbours = await createNeighbourTable({}).catch(() => null);
    const relay = await createStreamRelay(config.engine.relay, log);
    router.setRefuseIpv6FromDevices(config.gateway.enabled && config.gateway.ipv6 === 'refuse');
    engine = new Engine({
      tun, direct, icmp, resolver, neighbours, relay, router, deviceNames,
      address4: config.tun.address4, address6: config.tun.address6,
      fwmark: config.route.fwmark, limits: config.limits, timeouts: config.timeouts, log,
    });
    await engine.start();
    await routing.apply(await routingState(config, tun.name, egress, network, config.gateway.enabled, log));
  } catch (err) {
    await undo(routing, engine, tun, log);
    throw err;
  }

  const store = options.configPath ? await ConfigStore.open(options.configPath).catch((err: Error) => {
    log.warn('rule changes through the API will not be saved: the config file cannot be opened for writing', { error: err.message });
    return null;
  }) : null;
  const rules = new RulesManager({ specs: config.rules, defaultAction: config.defaultAction, router, engine, store, log, loadGeo: () => CountryDb.load() });
  const running = new Service(config, routing, network, engine, tun, direct, egress, log, router, rules, store, deviceNames);
  running.watch(createNetworkMonitorOrNull(log));
  try {
    await running.startApi();
  } catch (err) {
    await running.stop(`the control API could not start: ${(err as Error).message}`);
    throw err;
  }
  log.info('service ready', { tun: tun.name, mtu: tun.mtu, offload: tun.offload, relay: engine.tcp.relayKind, queues: engine.queues, egress: egress.interface, include: config.route.include.join(','), exclude: config.route.exclude.join(',') || 'none', rules: config.rules.length, upstreams: config.upstreams.length, gateway: config.gateway.enabled ? config.gateway.interfaces.join(',') : 'off' });
  return running;
}

/**
 * The router from the config: rules compiled (the config was validated, so this cannot fail), the
 * upstreams with their first health check done (a proxy that is down from the start sends its
 * rules' flows to their fallback from the first flow), the domain map, the country data.
 */
async function createRouter(config: Config, direct: DirectOutbound, log: Logger): Promise<FlowRouter> {
  const upstreamNames = config.upstreams.map((u) => u.name);
  const parsed = parseRules(config.rules, 'rules', { upstreams: upstreamNames });
  const action = parseAction(config.defaultAction, 'defaultAction', { upstreams: upstreamNames });
  if (!parsed.ok || !action.ok) throw new Error('unreachable: the config was validated');
  const rules = new RuleSet(parsed.rules, action.action);
  const upstreams = new UpstreamSet(config.upstreams, (host, port, family) => direct.dialAround(host, port, family), log);
  await upstreams.start();
  for (const u of upstreams.list()) log.info(`upstream ${u.name}`, { type: u.spec.type, address: `${u.spec.address}:${u.spec.port}`, state: u.state, ...(u.error ? { error: u.error } : {}) });
  const geo = rules.needsCountry ? await CountryDb.load().catch((err: Error) => {
    log.error('country rules cannot match: the GeoIP data could not be loaded', { error: err.message });
    return null;
  }) : null;
  const domains = config.domains.dnsSnoop ? new DomainMap({ maxEntries: config.domains.maxEntries }) : null;
  return new FlowRouter(rules, { upstreams, domains, geo, sniff: config.domains.sniff });
}

function describeEgress(e: EgressInfo): Record<string, string> {
  return { interface: e.interface, address4: e.address4 ?? 'none', address6: e.address6 ?? 'none' };
}

function createNetworkMonitorOrNull(log: Logger): NetworkMonitor | null {
  try { return createNetworkMonitor({ log }); } catch (err) {
    log.warn('network changes will not be noticed on this OS', { error: (err as Error).message });
    return null;
  }
}

class Service implements RunningService {
  readonly done: Promise<void>;
  #resolveDone!: () => void;
  #stopping: Promise<void> | null = null;
  #routingEnabled = true;
  #gatewayEnabled = false;
  #devices: { mac?: string; address?: string; name: string }[] = [];
  #monitor: NetworkMonitor | null = null;
  #control: ControlServer | null = null;
  #history: UsageHistory | null = null;
  #tickTimer: NodeJS.Timeout | null = null;
  #webUi: WebUi | null = null;
  icons: AppIconSource | null = null;
  #uiUrl: string | null = null;
  /** Serializes routing changes (on/off, network changes, stop). */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly config: Config,
    readonly routing: RoutingManager,
    readonly network: NetworkInfo,
    readonly engine: Engine,
    readonly tun: TunDevice,
    readonly direct: DirectOutbound,
    public egress: EgressInfo,
    readonly log: Logger,
    readonly router: FlowRouter,
    readonly rules: RulesManager,
    readonly store: ConfigStore | null,
    readonly deviceNames: DeviceNames,
  ) {
    this.#gatewayEnabled = config.gateway.enabled;
    this.#devices = [...config.devices];
    this.done = new Promise((r) => (this.#resolveDone = r));
  }

  get routingEnabled(): boolean { return this.#routingEnabled; }
  get gatewayEnabled(): boolean { return this.#gatewayEnabled; }
  get uiUrl(): string | null { return this.#uiUrl; }
  get uiListen(): string { return this.config.ui.listen; }

  /** The web UI (ui.listen): the built renderer plus the control protocol over WebSocket, on the same server. */
  async #startWebUi(): Promise<void> {
    if (this.config.ui.listen === 'off') return;
    if (this.#control === null) {
      this.log.error('web UI disabled: the control API is not running in this service');
      return;
    }
    try {
      // Loaded only when the web UI is on (ws and the HTTP server cost memory a headless service
      // without a UI does not need).
      const { startWebUi } = await import('../ui/web-ui.js');
      const { loadOrCreateToken, uiUrl } = await import('../ui/token.js');
      const token = await loadOrCreateToken(this.config.stateDir, this.log);
      this.#webUi = await startWebUi({
        listen: this.config.ui.listen, allowRemote: this.config.ui.allowRemote, token, control: this.#control, log: this.log, version: version(),
        // dist/app/service/service.js → dist/renderer (what `npm run build` writes).
        staticDir: fileURLToPath(new URL('../../renderer/', import.meta.url)),
      });
      this.#uiUrl = uiUrl(this.#webUi.address, token);
      // The token is not logged: `switchyard ui` prints the URL with it.
      this.log.info('web UI listening (`switchyard ui` prints its URL with the token)', { url: this.#webUi.url });
    } catch (err) {
      this.log.error('web UI could not start; the service runs without it', { listen: this.config.ui.listen, error: (err as Error).message });
    }
  }

  #state(egress = this.egress): Promise<RoutingState> {
    return routingState(this.config, this.tun.name, egress, this.network, this.#gatewayEnabled, this.log);
  }

  setGateway(enabled: boolean): Promise<void> {
    return this.#serial(async () => {
      if (this.#stopping || enabled === this.#gatewayEnabled) return;
      if (enabled && this.config.gateway.interfaces.length === 0) throw new Error('gateway.interfaces is empty in the config: name the LAN interfaces first');
      if (this.store) {
        await this.store.update((doc) => mapSet(doc, ['gateway', 'enabled'], enabled), (text) => { parseConfig(text, 'the edited config'); });
      }
      this.#gatewayEnabled = enabled;
      this.router.setRefuseIpv6FromDevices(enabled && this.config.gateway.ipv6 === 'refuse');
      if (this.#routingEnabled) await this.routing.apply(await this.#state());
      this.log.info(enabled ? `gateway on: traffic forwarded from ${this.config.gateway.interfaces.join(', ')} goes through Switchyard` : 'gateway off: LAN devices are no longer routed');
    });
  }

  /** Names a device (by MAC or address; '' removes the name), saved to the config file; live sessions show it at once. */
  async renameDevice(device: string, name: string): Promise<{ mac?: string; address?: string; name: string }> {
    const isMac = /^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(device);
    const key = isMac ? { mac: device.toLowerCase().replaceAll('-', ':') } : { address: device };
    const list = this.#devices.filter((d) => (isMac ? d.mac?.toLowerCase() !== key.mac : d.address !== device));
    if (name !== '') list.push({ ...key, name });
    if (this.store) {
      await this.store.update((doc) => mapSet(doc, ['devices'], list), (text) => { parseConfig(text, 'the edited config'); });
    }
    this.#devices = list;
    this.deviceNames.set(list);
    for (const s of this.engine.flows.values()) {
      const d = s.device;
      if (d === null || d.local) continue;
      const n = this.deviceNames.nameOf(d.mac, d.address);
      if (n) d.name = n; else delete d.name;
    }
    return { ...key, name };
  }

  /** Opens the usage history, starts the control server and the stats tick. */
  async startApi(): Promise<void> {
    this.icons = await createAppIcons().catch(() => null);
    this.#history = await UsageHistory.open({ dir: join(this.config.stateDir, 'history'), log: this.log }).catch((err: Error) => {
      this.log.error('usage history unavailable; live stats still work', { error: err.message });
      return null;
    });
    const api = new ServiceApi(this, this.#history, version());
    try {
      this.#control = await startControlServer({
        socketPath: this.config.control.socket, group: this.config.control.group, handlers: api.handlers(), log: this.log, version: version(),
      });
      this.log.info('control API listening', { socket: this.#control.address, group: this.config.control.group });
    } catch (err) {
      // Another live service owns the socket (a second network namespace with the default path):
      // routing is this service's job and goes on; only its API is missing, and the log says so.
      if (!(err instanceof TransportError) || err.code !== 'IN_USE') throw err;
      this.log.error('control API disabled: its socket belongs to another running Switchyard service; set control.socket to a path of its own', { socket: this.config.control.socket, error: err.message });
    }
    await this.#startWebUi();
    this.#tickTimer = setInterval(() => {
      try {
        const control = this.#control;
        const subscribers = control?.stats().subscribers ?? 0;
        const tick = api.tick(Date.now(), subscribers > 0);
        if (subscribers > 0) control!.broadcast('tick', tick);
      } catch (err) {
        this.log.error('stats tick failed', { error: (err as Error).stack ?? String(err) });
      }
    }, TICK_MS);
    this.#tickTimer.unref();
  }

  watch(monitor: NetworkMonitor | null): void {
    this.#monitor = monitor;
    monitor?.start(() => void this.#serial(() => this.#onNetworkChange()));
  }

  setRouting(enabled: boolean): Promise<void> {
    return this.#serial(async () => {
      if (this.#stopping || enabled === this.#routingEnabled) return;
      if (enabled) await this.routing.apply(await this.#state());
      else await this.routing.teardown();
      this.#routingEnabled = enabled;
      this.log.info(enabled ? 'routing on: traffic goes through the TUN' : 'routing off: traffic takes the normal routes');
    });
  }

  async #onNetworkChange(): Promise<void> {
    if (this.#stopping) return;
    let next: EgressInfo;
    try {
      next = await this.network.egress(this.config.egress.interface, [this.tun.name]);
    } catch (err) {
      // No default route right now (Wi-Fi gone, suspend): keep the last egress; direct dials fail
      // fast until the network is back, and the next change event re-resolves it.
      this.log.warn('network changed: no usable egress right now', { error: (err as Error).message });
      return;
    }
    const prev = this.egress;
    if (next.interface === prev.interface && next.address4 === prev.address4 && next.address6 === prev.address6) return;
    this.log.info('network changed: new egress', { from: `${prev.interface} ${prev.address4 ?? '-'} ${prev.address6 ?? '-'}`, ...describeEgress(next) });
    this.egress = next;
    this.direct.update(next);
    if (this.#routingEnabled) {
      await this.routing.apply(await this.#state(next)).catch((err: Error) =>
        this.log.error('could not re-apply routing after a network change', { error: err.message }));
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  stop(reason: string): Promise<void> {
    this.#stopping ??= (async () => {
      this.log.info('stopping', { reason });
      this.#monitor?.stop();
      if (this.#tickTimer) clearInterval(this.#tickTimer);
      await this.#webUi?.close().catch((err: Error) => this.log.error('web UI close failed', { error: err.message }));
      await this.#control?.close().catch((err: Error) => this.log.error('control server close failed', { error: err.message }));
      await this.#tail;
      const c = this.engine.counters;
      await undo(this.routing, this.engine, this.tun, this.log);
      this.router.upstreams.stop();
      await this.#history?.close().catch((err: Error) => this.log.error('usage history close failed', { error: err.message }));
      this.log.info('stopped; routes and rules restored, TUN removed', {
        packetsRead: c.packetsRead, packetsWritten: c.packetsWritten, sessionsOpened: c.sessionsOpened,
        malformed: c.malformed, tunWriteDrops: c.tunWriteDrops, refusedByLimit: c.refusedByLimit,
      });
      this.#resolveDone();
    })();
    return this.#stopping;
  }
}

/** Withdraws routes, stops the engine, closes the TUN; logs and continues past each failure. */
/** TUN queues for `engine.queues`: 'auto' is one per core (each extra queue is a worker thread), at most 4. */
export function tunQueues(setting: 'auto' | number): number {
  return setting === 'auto' ? Math.max(1, Math.min(4, availableParallelism())) : setting;
}

async function undo(routing: RoutingManager, engine: Engine | null, tun: TunDevice | null, log: Logger): Promise<void> {
  await routing.teardown().catch((err: Error) => log.error('could not restore routing; run `switchyard cleanup`', { error: err.message }));
  await engine?.stop().catch((err: Error) => log.error('engine stop failed', { error: err.message }));
  await tun?.close().catch((err: Error) => log.error('TUN close failed', { error: err.message }));
}

/** Undoes whatever a crashed or killed run left on the OS (journal in config.stateDir). */
export async function cleanupService(config: Config, log: Logger): Promise<string[]> {
  return createRoutingManager({ stateDir: config.stateDir, log }).recover();
}
