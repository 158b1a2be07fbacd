// The service: composes the OS layer (native/) and the engine into a running router.
//
//   start:  recover leftovers (journal) → find egress → open TUN → engine listens → apply routes
//           → "service ready"
//   stop:   withdraw routes → stop engine → close TUN (the OS removes it) → journal empty
//
// Routes go last on start and first on stop, so traffic only enters the TUN while the engine is
// there to forward it. Every OS change is journalled before it is made (RoutingManager), so a crash
// or kill -9 is undone by `switchyard cleanup` or by the next start.
import type { Config } from './config.js';
import type { Logger } from '../log.js';
import type { RoutingManager } from '../os/routing.js';
import type { TunDevice } from '../os/tun.js';
import { Engine } from '../engine/engine.js';
import { DirectOutbound } from '../outbound/direct.js';
import { createTunFactory } from '../../native/tun/index.js';
import { createIcmpEchoFactory } from '../../native/socket/index.js';
import { createNetworkInfo, createRoutingManager } from '../../native/route/index.js';

export interface RunningService {
  /** Resolves when the service has stopped (after stop() or a fatal error). */
  readonly done: Promise<void>;
  /** Stops forwarding, restores routing, removes the TUN. Idempotent. */
  stop(reason: string): Promise<void>;
  /** The engine, for in-process observers (tests, later the control server). */
  readonly engine: Engine;
}

/** Validated config in, running service out; nothing on the OS is touched before this is called. */
export async function startService(config: Config, log: Logger): Promise<RunningService> {
  const routing = createRoutingManager({ stateDir: config.stateDir, log });
  for (const line of await routing.recover()) log.warn(`recovered from an earlier run: ${line}`);

  const egress = await createNetworkInfo().egress(config.egress.interface);
  log.info('egress', { interface: egress.interface, address4: egress.address4 ?? 'none', address6: egress.address6 ?? 'none' });

  let tun: TunDevice | null = null;
  let engine: Engine | null = null;
  try {
    tun = await createTunFactory({ log }).open({ name: config.tun.name, mtu: config.tun.mtu, addresses: [config.tun.address4, config.tun.address6], offload: config.tun.offload });
    const icmp = await createIcmpEchoFactory().catch((err: Error) => {
      log.warn('icmp: echo forwarding unavailable', { error: err.message });
      return null;
    });
    engine = new Engine({
      tun, direct: new DirectOutbound(egress), icmp,
      address4: config.tun.address4, address6: config.tun.address6,
      fwmark: config.route.fwmark, limits: config.limits, timeouts: config.timeouts, log,
    });
    await engine.start();
    await routing.apply({
      tunName: tun.name, table: config.route.table, rulePriority: config.route.rulePriority, fwmark: config.route.fwmark,
      include: config.route.include, exclude: config.route.exclude,
      bypassSources: [egress.address4, egress.address6].filter((a): a is string => a !== undefined),
    });
  } catch (err) {
    await undo(routing, engine, tun, log);
    throw err;
  }

  const running = new Service(routing, engine, tun, log);
  log.info('service ready', { tun: tun.name, mtu: tun.mtu, egress: egress.interface, include: config.route.include.join(','), exclude: config.route.exclude.join(',') || 'none' });
  return running;
}

class Service implements RunningService {
  readonly done: Promise<void>;
  #resolveDone!: () => void;
  #stopping: Promise<void> | null = null;

  constructor(readonly routing: RoutingManager, readonly engine: Engine, readonly tun: TunDevice, readonly log: Logger) {
    this.done = new Promise((r) => (this.#resolveDone = r));
  }

  stop(reason: string): Promise<void> {
    this.#stopping ??= (async () => {
      this.log.info('stopping', { reason });
      const c = this.engine.counters;
      await undo(this.routing, this.engine, this.tun, this.log);
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
async function undo(routing: RoutingManager, engine: Engine | null, tun: TunDevice | null, log: Logger): Promise<void> {
  await routing.teardown().catch((err: Error) => log.error('could not restore routing; run `switchyard cleanup`', { error: err.message }));
  await engine?.stop().catch((err: Error) => log.error('engine stop failed', { error: err.message }));
  await tun?.close().catch((err: Error) => log.error('TUN close failed', { error: err.message }));
}

/** Undoes whatever a crashed or killed run left on the OS (journal in config.stateDir). */
export async function cleanupService(config: Config, log: Logger): Promise<string[]> {
  return createRoutingManager({ stateDir: config.stateDir, log }).recover();
}
