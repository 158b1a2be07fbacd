// native/route — Linux policy routing through iproute2 (design: app/os/routing.ts; plan: ./plan.ts).
// Reads with `ip -N -json`, changes with one `ip` command per step. Invariant: every add is written
// to the journal (fsync'd) before it is made, and an entry leaves the journal only after it is gone,
// so teardown() and a later recover() can always undo what this process did.
// Ownership: rules at priorities PRIO..PRIO+2, every route in TABLE, and whatever the journal lists.
import { execFile } from 'node:child_process';
import type { EgressInfo, NetworkInfo, RoutingManager, RoutingState } from '../../app/os/routing.js';
import { silentLogger, type Logger } from '../../app/log.js';
import { Journal, type JournalEntry } from '../../app/service/journal.js';
import { desiredEntries, isRoutingEntry, parseRoutes, parseRules, planRouting, stepArgs, undoOrder, type Family, type RoutingEntry } from './plan.js';
import { deleteNftTable, desiredNft, desiredSysctls, isNftEntry, isSysctlEntry, readSysctl, replaceNftTable, writeSysctl, type SysctlEntry } from './gateway-linux.js';
import type { InterfaceAddress } from '../../app/os/routing.js';

/** Options of LinuxRoutingManager. */
export interface LinuxRoutingOptions {
  /** Directory of the journal (created 0700 if missing). */
  stateDir: string;
  log?: Logger;
  /** Command prefix for iproute2 (default ['ip']); e.g. ['ip', '-n', NS] to act on a namespace. */
  ip?: string[];
}

/** A TUN device this service created; recover() deletes it if it still exists. */
export interface LinkEntry extends JournalEntry {
  kind: 'link';
  name: string;
}

const NOT_FOUND = /No such file or directory|No such process|Cannot find device|does not exist/;
const EXISTS = /File exists/;

/** Applies RoutingState with ip rules and a routing table, journalled in stateDir. */
export class LinuxRoutingManager implements RoutingManager {
  readonly #stateDir: string;
  readonly #log: Logger;
  readonly #ip: string[];
  #journal: Promise<Journal> | undefined;
  /** Serializes apply/teardown/recover: they read, plan and change the same state. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(options: LinuxRoutingOptions) {
    this.#stateDir = options.stateDir;
    this.#log = options.log ?? silentLogger;
    this.#ip = options.ip ?? ['ip'];
  }

  apply(state: RoutingState): Promise<void> {
    return this.#serial(() => this.#apply(state));
  }

  teardown(): Promise<void> {
    return this.#serial(async () => {
      const journal = await this.#openJournal();
      const failures = (await this.#undoGateway(journal, () => undefined)).failures;
      failures.push(...await this.#undoRouting(journal, () => undefined));
      // Links are dropped, not deleted: the TUN belongs to its TunDevice, whose close() removes it.
      if (failures.length === 0) await journal.replace(journal.entries().filter((e) => !isRoutingEntry(e) && e.kind !== 'link' && !isSysctlEntry(e) && !isNftEntry(e)));
      if (failures.length > 0) throw new Error(`routing teardown left ${failures.length} change(s) in place:\n${failures.join('\n')}`);
      this.#log.info('routing torn down');
    });
  }

  recover(): Promise<string[]> {
    return this.#serial(async () => {
      const journal = await this.#openJournal();
      const lines: string[] = [];
      if (journal.corruptFile) {
        lines.push(`the journal was unreadable (${journal.corruptReason}); moved it aside to ${journal.corruptFile} — check \`ip rule\` and \`ip route show table all\` by hand`);
      }
      const failures = (await this.#undoGateway(journal, (line) => lines.push(line))).failures;
      failures.push(...await this.#undoRouting(journal, (line) => lines.push(line)));
      for (const e of journal.entries()) {
        if (e.kind !== 'link' || typeof e.name !== 'string') continue;
        try {
          await this.#run(['link', 'del', 'dev', e.name]);
          lines.push(`deleted leftover TUN device ${e.name}`);
        } catch (err) {
          if (!NOT_FOUND.test((err as Error).message)) { failures.push((err as Error).message); continue; }
        }
        await journal.remove(e);
      }
      const unknown = journal.entries().filter((e) => !isRoutingEntry(e) && e.kind !== 'link' && !isSysctlEntry(e) && !isNftEntry(e));
      for (const e of unknown) lines.push(`left in the journal for another component: ${JSON.stringify(e)}`);
      if (failures.length > 0) throw new Error(`recovery could not undo ${failures.length} change(s):\n${failures.join('\n')}\n(undone so far: ${lines.join('; ') || 'nothing'})`);
      for (const line of lines) this.#log.info(`recover: ${line}`);
      return lines;
    });
  }

  async #apply(state: RoutingState): Promise<void> {
    const desired = desiredEntries(state);
    const journal = await this.#openJournal();
    await journal.add({ kind: 'link', name: state.tunName } satisfies LinkEntry);
    const current: RoutingEntry[] = [];
    for (const family of [4, 6] as const) {
      current.push(...parseRules(await this.#run([`-${family}`, '-N', '-json', 'rule', 'show']), family, state.rulePriority, state.rulePriority + 2));
      current.push(...parseRoutes(await this.#readTable(family, state.table), family, state.table));
    }
    const steps = planRouting(desired, current, journal.entries().filter(isRoutingEntry));
    for (const step of steps) {
      if (step.action === 'add') {
        await journal.add(step.entry);
        await this.#run(stepArgs(step)).catch((e: Error) => { if (!EXISTS.test(e.message)) throw e; });
      } else {
        await this.#run(stepArgs(step)).catch((e: Error) => { if (!NOT_FOUND.test(e.message)) throw e; });
        await journal.remove(step.entry);
      }
    }
    // Journal = exactly what we own now (entries already on the OS that we want are adopted).
    await journal.replace([...journal.entries().filter((e) => !isRoutingEntry(e)), ...desired]);
    const gw = await this.#applyGateway(journal, state);
    this.#log.info('routing applied', { tun: state.tunName, table: state.table, changes: steps.length, entries: desired.length, ...(state.gateway ? { gateway: state.gateway.interfaces.join(','), gatewayChanges: gw } : {}) });
  }

  /**
   * Gateway mode's sysctls and nft tables: wanted ones set (previous values journalled first),
   * others restored. Runs after the routes (so forwarding starts with the LAN subnets excluded) and
   * is undone before them.
   */
  async #applyGateway(journal: Journal, state: RoutingState): Promise<number> {
    let changes = 0;
    const egress = state.gateway?.egress;
    const ra = egress ? await readSysctl(`net.ipv6.conf.${egress}.accept_ra`).catch(() => null) : null;
    const journalledRa = journal.entries().some((e) => isSysctlEntry(e) && e.key === `net.ipv6.conf.${egress}.accept_ra`);
    const wantSysctl = desiredSysctls(state.gateway, (key) => (journalledRa ? '1' : key.endsWith('.accept_ra') ? ra : null));
    for (const [key, value] of wantSysctl) {
      const current = await readSysctl(key);
      if (current === value) continue;
      if (!journal.entries().some((e) => isSysctlEntry(e) && e.key === key)) await journal.add({ kind: 'sysctl', key, previous: current } satisfies SysctlEntry);
      await writeSysctl(key, value);
      changes++;
    }
    const wantNft = desiredNft(state.gateway);
    for (const { entry, script } of wantNft) {
      if (!journal.entries().some((e) => isNftEntry(e) && e.table === entry.table && e.family === entry.family)) await journal.add(entry);
      await replaceNftTable(entry.family, entry.table, script);
      changes++;
    }
    changes += (await this.#undoGateway(journal, () => undefined, wantSysctl, new Set(wantNft.map((n) => `${n.entry.family}/${n.entry.table}`)))).undone;
    return changes;
  }

  /** Restores journalled sysctls and deletes journalled nft tables, except those still wanted. */
  async #undoGateway(journal: Journal, report: (line: string) => void, keepSysctl = new Map<string, string>(), keepNft = new Set<string>()): Promise<{ undone: number; failures: string[] }> {
    const failures: string[] = [];
    let undone = 0;
    for (const e of journal.entries()) {
      try {
        if (isNftEntry(e) && !keepNft.has(`${e.family}/${e.table}`)) {
          if (await deleteNftTable(e.family, e.table)) report(`removed nft table ${e.family} ${e.table}`);
          await journal.remove(e);
          undone++;
        } else if (isSysctlEntry(e) && !keepSysctl.has(e.key)) {
          await writeSysctl(e.key, e.previous);
          report(`restored ${e.key} = ${e.previous}`);
          await journal.remove(e);
          undone++;
        }
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    return { undone, failures };
  }

  /** Deletes journalled rules and routes in undo order; returns the failures, reports each undone one. */
  async #undoRouting(journal: Journal, report: (line: string) => void): Promise<string[]> {
    const failures: string[] = [];
    for (const entry of undoOrder(journal.entries().filter(isRoutingEntry))) {
      const args = stepArgs({ action: 'del', entry });
      try {
        await this.#run(args);
        report(`removed: ip ${[`-${entry.family}`, entry.kind, ...entry.spec].join(' ')}`);
      } catch (e) {
        if (!NOT_FOUND.test((e as Error).message)) { failures.push((e as Error).message); continue; }
      }
      await journal.remove(entry);
    }
    return failures;
  }

  async #readTable(family: Family, table: number): Promise<string> {
    try {
      return await this.#run([`-${family}`, '-N', '-json', 'route', 'show', 'table', String(table)]);
    } catch (e) {
      // A table that has never held a route does not exist yet.
      if (/FIB table does not exist/.test((e as Error).message)) return '[]';
      throw e;
    }
  }

  async #openJournal(): Promise<Journal> {
    this.#journal ??= Journal.open(this.#stateDir).then((j) => {
      if (j.corruptFile) this.#log.error('routing journal was corrupt; moved aside', { file: j.corruptFile, reason: j.corruptReason });
      return j;
    });
    let journal: Journal;
    try {
      journal = await this.#journal;
    } catch (e) {
      this.#journal = undefined;
      throw e;
    }
    if (journal.ownedByOtherLiveProcess()) {
      throw new Error(`the journal ${journal.path} belongs to a running process (pid ${journal.previousOwner?.pid}); stop that Switchyard service first`);
    }
    return journal;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  #run(args: string[]): Promise<string> {
    return runIp(this.#ip, args);
  }
}

/** Reads the egress interface and its source addresses with iproute2. */
export class LinuxNetworkInfo implements NetworkInfo {
  readonly #ip: string[];

  constructor(options: { ip?: string[] } = {}) {
    this.#ip = options.ip ?? ['ip'];
  }

  async addresses(name: string): Promise<InterfaceAddress[]> {
    let json: string;
    try {
      json = await runIp(this.#ip, ['-json', 'addr', 'show', 'dev', name]);
    } catch (e) {
      if (NOT_FOUND.test((e as Error).message)) throw new Error(`interface "${name}" does not exist`);
      throw e;
    }
    const link = (JSON.parse(json) as Array<{ addr_info?: (AddrInfo & { prefixlen?: number })[] }>)[0];
    return (link?.addr_info ?? [])
      .filter((a) => (a.family === 'inet' && a.scope !== 'host') || (a.family === 'inet6' && a.scope === 'global'))
      .map((a) => ({ family: a.family === 'inet' ? 4 : 6, address: a.local, prefix: a.prefixlen ?? (a.family === 'inet' ? 32 : 128) }) as InterfaceAddress);
  }

  async egress(name: string, exclude: string[] = []): Promise<EgressInfo> {
    const iface = name === 'auto' ? await this.#defaultRouteInterface(exclude) : name;
    let json: string;
    try {
      json = await runIp(this.#ip, ['-json', 'addr', 'show', 'dev', iface]);
    } catch (e) {
      if (NOT_FOUND.test((e as Error).message)) throw new Error(`egress interface "${iface}" does not exist`);
      throw e;
    }
    const link = (JSON.parse(json) as Array<{ addr_info?: AddrInfo[] }>)[0];
    const addrs = link?.addr_info ?? [];
    const usable = (a: AddrInfo) => !a.tentative && !a.dadfailed && !a.deprecated;
    const v4 = addrs.filter((a) => a.family === 'inet' && a.scope !== 'host');
    const v6 = addrs.filter((a) => a.family === 'inet6' && a.scope === 'global' && usable(a));
    const address4 = (v4.find((a) => !a.secondary) ?? v4[0])?.local;
    const address6 = (v6.find((a) => !a.temporary) ?? v6[0])?.local;
    return { interface: iface, ...(address4 ? { address4 } : {}), ...(address6 ? { address6 } : {}) };
  }

  async #defaultRouteInterface(exclude: string[]): Promise<string> {
    for (const family of [4, 6] as const) {
      const routes = JSON.parse(await runIp(this.#ip, [`-${family}`, '-json', 'route', 'show', 'table', 'main', 'default']) || '[]') as Array<{ dev?: string; metric?: number }>;
      const best = routes.filter((r) => r.dev && !exclude.includes(r.dev)).sort((a, b) => (a.metric ?? 0) - (b.metric ?? 0))[0];
      if (best?.dev) return best.dev;
    }
    throw new Error('no default route in the main routing table (IPv4 or IPv6); name the egress interface explicitly');
  }
}

interface AddrInfo {
  family: string;
  local: string;
  scope?: string;
  secondary?: boolean;
  temporary?: boolean;
  tentative?: boolean;
  deprecated?: boolean;
  dadfailed?: boolean;
}

/** Runs iproute2; rejects with an Error quoting the command and its stderr. */
function runIp(prefix: string[], args: string[]): Promise<string> {
  const [cmd, ...pre] = prefix;
  return new Promise((resolve, reject) => {
    execFile(cmd!, [...pre, ...args], { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`\`${[...prefix, ...args].join(' ')}\` failed: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}
