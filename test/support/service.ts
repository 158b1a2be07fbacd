// Runs the built Switchyard service (`dist/app/cli/main.js up --config FILE`) inside a lab namespace:
// writes the config, waits for "service ready", stops it with a signal or kill -9, runs `cleanup`, and
// keeps everything it printed so every failure can quote the service log.
//
//   startService ─▶ [spawned, log collected] ─▶ "service ready" ─▶ stop(SIGTERM) → exit code
//                                                               └▶ kill9() → cleanup(): ExecResult
import { mkdtemp, writeFile, rm, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { Lab, execIn, type ExecResult } from './netns.js';
import { standardTopology, type StandardTopology } from './topology.js';
import { PeerSet, type NginxPeer } from './peers.js';

/** The repository root (this file lives in test/support/ or dist/test/support/). */
export const REPO_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
/** The service's entry point, as built by `npm run build`. */
export const CLI_MAIN = join(REPO_ROOT, 'dist', 'app', 'cli', 'main.js');

export const READY_LINE = 'service ready';

export interface ServiceConfig {
  tun?: { name?: string; mtu?: number; address4?: string; address6?: string };
  route?: { include?: string[]; exclude?: string[] };
  egress?: { interface?: string };
  log?: { level?: string };
  [key: string]: unknown;
}

/** A temp dir holding the config file and the service's stateDir; remove() deletes it. */
export class ServiceFiles {
  private constructor(readonly dir: string, readonly configPath: string, readonly stateDir: string) {}

  /** Writes `config` (stateDir filled in unless given) as the service's YAML config. */
  static async create(tag: string, config: ServiceConfig = {}): Promise<ServiceFiles> {
    const dir = await mkdtemp(join(tmpdir(), `${tag}-svc-`));
    const stateDir = join(dir, 'state');
    const full = {
      tun: { name: 'sy0', mtu: 1500 },
      route: { include: ['0.0.0.0/0', '::/0'], exclude: [] },
      egress: { interface: 'auto' },
      stateDir,
      log: { level: 'info' },
      // A control socket per test run: services of different test files never share one.
      control: { socket: join(dir, 'control.sock') },
      ...config,
    };
    const configPath = join(dir, 'switchyard.yaml');
    await writeFile(configPath, toYaml(full));
    return new ServiceFiles(dir, configPath, stateDir);
  }

  /** Replaces the config file's text verbatim (bad-config tests). */
  async writeRaw(text: string): Promise<void> { await writeFile(this.configPath, text); }

  async configText(): Promise<string> { return readFile(this.configPath, 'utf8'); }

  async remove(): Promise<void> { await rm(this.dir, { recursive: true, force: true }); }
}

export class ServiceProcess {
  #log = '';
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly lab: Lab, readonly ns: string, readonly files: ServiceFiles, readonly child: ChildProcess) {
    const keep = (d: Buffer): void => { this.#log += d.toString(); };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number { return this.child.pid ?? -1; }

  /** Everything the service printed so far (stderr and stdout, interleaved). */
  get log(): string { return this.#log; }

  /** The last lines of the log, for assertion messages. */
  tail(lines = 60): string { return this.#log.split('\n').slice(-lines).join('\n'); }

  get running(): boolean { return this.child.exitCode === null && this.child.signalCode === null; }

  /** Resolves when a log line contains READY_LINE; rejects with the log if the service exits or times out. */
  async waitReady(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#log.includes(READY_LINE)) {
      if (!this.running) throw new Error(`switchyard exited (code ${this.child.exitCode}, signal ${this.child.signalCode}) before "${READY_LINE}"; log:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`switchyard not ready after ${timeoutMs} ms; log:\n${this.tail()}`);
      await sleep(50);
    }
  }

  /** Sends `signal` (the service's process only) and resolves with the exit code; kills -9 after timeoutMs. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }> {
    if (this.running) { try { process.kill(this.pid, signal); } catch { /* exited meanwhile */ } }
    const timer = sleep(timeoutMs).then(() => 'timeout' as const);
    const r = await Promise.race([this.#exited, timer]);
    if (r === 'timeout') {
      this.kill9();
      return { ...(await this.#exited), timedOut: true };
    }
    return { ...r, timedOut: false };
  }

  /** Waits for the process to exit by itself (kills -9 after timeoutMs and reports timedOut). */
  async waitExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }> {
    const r = await Promise.race([this.#exited, sleep(timeoutMs).then(() => 'timeout' as const)]);
    if (r !== 'timeout') return { ...r, timedOut: false };
    await this.kill9();
    return { ...(await this.#exited), timedOut: true };
  }

  /** kill -9 of the service process, as a crash would; resolves when it is gone. */
  async kill9(): Promise<void> {
    if (this.running) { try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ } }
    await this.#exited;
  }

  /** Peak resident set size (VmHWM) in KiB, while the process runs. */
  async peakRssKiB(): Promise<number> { return procStatusKiB(this.pid, 'VmHWM'); }

  /** Current resident set size (VmRSS) in KiB. */
  async rssKiB(): Promise<number> { return procStatusKiB(this.pid, 'VmRSS'); }
}

/** Spawns `up --config` in `ns` (it is killed by lab.destroy()); waitReady() is up to the caller. */
export function spawnService(lab: Lab, ns: string, files: ServiceFiles, extraArgs: string[] = []): ServiceProcess {
  assertBuilt();
  // SERVICE_NODE_ARGS: extra Node flags for the service only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  // (a CPU profile of the service during a bench step; written when it stops).
  const nodeArgs = (process.env.SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = lab.spawn(ns, process.execPath, [...nodeArgs, CLI_MAIN, 'up', '--config', files.configPath, ...extraArgs]);
  return new ServiceProcess(lab, ns, files, child);
}

/** Spawns the service and waits for READY_LINE. */
export async function startService(lab: Lab, ns: string, files: ServiceFiles, timeoutMs = 20_000): Promise<ServiceProcess> {
  const svc = spawnService(lab, ns, files);
  await svc.waitReady(timeoutMs);
  return svc;
}

/** Runs the CLI to completion inside `ns` (e.g. `cleanup --config FILE`, `up --help`); never rejects on exit code. */
export function runCli(ns: string, args: string[], timeoutMs = 30_000): Promise<ExecResult> {
  assertBuilt();
  return execIn(ns, process.execPath, [CLI_MAIN, ...args], { allowFail: true, timeoutMs });
}

function assertBuilt(): void {
  if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} does not exist: run \`npm run build\` first`);
}

async function procStatusKiB(pid: number, field: string): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]);
}

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'app'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no repository root above ${start}`);
    dir = up;
  }
}

/** A minimal YAML writer for the config shapes above (flow style; strings JSON-quoted). */
export function toYaml(value: Record<string, unknown>): string {
  const flow = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
    if (v !== null && typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${k}: ${flow(x)}`).join(', ')} }`;
    return typeof v === 'string' ? JSON.stringify(v) : String(v);
  };
  return Object.entries(value).map(([k, v]) => `${k}: ${flow(v)}`).join('\n') + '\n';
}

function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

/** What a traffic test file runs on: the standard topology, its peers and (in 'switchyard' mode) the service. */
export interface TrafficLab {
  mode: 'kernel' | 'switchyard';
  lab: Lab;
  topo: StandardTopology;
  peers: PeerSet;
  nginx: NginxPeer | undefined;
  files: ServiceFiles | undefined;
  svc: ServiceProcess | undefined;
  /** Context for assertion messages: the mode and the service log's tail. */
  why(extra?: unknown): string;
  dispose(): Promise<void>;
}

/**
 * Builds the standard topology with the kit and (optionally) nginx and dnsmasq on the server, then in
 * 'switchyard' mode starts the service in the client namespace. On any failure everything is torn down.
 */
export async function startTrafficLab(mode: 'kernel' | 'switchyard', opts: { nginx?: boolean; dns?: boolean; tag?: string; service?: ServiceConfig } = {}): Promise<TrafficLab> {
  const lab = new Lab(opts.tag ?? 'sy');
  let peers: PeerSet | undefined;
  let files: ServiceFiles | undefined;
  let svc: ServiceProcess | undefined;
  const dispose = async (): Promise<void> => {
    if (svc?.running) await svc.stop('SIGTERM', 10_000).catch(() => undefined);
    await lab.destroy();
    await peers?.dispose();
    await files?.remove();
  };
  try {
    const topo = await standardTopology(lab);
    peers = await PeerSet.create(lab, topo.server);
    await peers.kit([topo.addr.server4, topo.addr.server6, topo.addr.offlink4, topo.addr.offlink6]);
    const nginx = opts.nginx ? await peers.nginx() : undefined;
    if (opts.dns) await peers.dnsmasq([topo.addr.server4, topo.addr.server6, topo.addr.offlink4, topo.addr.offlink6]);
    if (mode === 'switchyard') {
      files = await ServiceFiles.create(lab.id, opts.service ?? {});
      svc = await startService(lab, topo.client, files);
      // The traffic must really go into the TUN, or a passing test would prove nothing about the engine.
      for (const a of [topo.addr.server4, topo.addr.offlink4, topo.addr.server6, topo.addr.offlink6]) {
        const r = await execIn(topo.client, 'ip', ['route', 'get', a], { allowFail: true });
        if (!/ dev sy0 /.test(r.stdout)) throw new Error(`with the service running, ${a} is not routed into sy0: ${r.stdout}${r.stderr}`);
      }
    }
    const p = peers;
    return {
      mode, lab, topo, peers: p, nginx, files, svc, dispose,
      why: (extra?: unknown) => `[${mode}]${extra === undefined ? '' : ` ${typeof extra === 'string' ? extra : JSON.stringify(extra)}`}` +
        (svc ? `\n--- switchyard log (pid ${svc.pid}, ${svc.running ? 'running' : `exited ${svc.child.exitCode ?? svc.child.signalCode}`}) ---\n${svc.tail(40)}` : ''),
    };
  } catch (e) {
    const log = svc ? `\n--- switchyard log ---\n${svc.tail()}` : '';
    await dispose();
    throw new Error(`${(e as Error).message}${log}`);
  }
}

/**
 * The engine's modes every traffic test runs in: the fast one (offloads, splice relay, a second TUN
 * queue with its worker thread — what `auto` picks on a multi-core Linux) and the fallback (plain
 * packets, JavaScript relay, one queue — what other kernels and OSes get).
 * `expect` is the log line fragment that proves the mode really ran.
 */
export const ENGINE_MODES = [
  { name: 'fast mode: offloads + splice relay + 2 TUN queues', service: { engine: { relay: 'splice', queues: 2 } }, expect: /offload="csum\+tso4\+tso6" relay="splice" queues=2/ },
  { name: 'fallback mode: no offloads + JS relay + 1 queue', service: { tun: { name: 'sy0', mtu: 1500, offload: 'off' }, engine: { relay: 'js', queues: 1 } }, expect: /offload="none" relay="js" queues=1/ },
] as const;
