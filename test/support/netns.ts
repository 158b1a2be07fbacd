// A network-namespace lab for integration tests: namespaces with unique names, veth links between
// them, and processes started inside them. destroy() kills every process it started (by PID, whole
// process group) and deletes every namespace it made — call it in afterAll, it is safe on failure.
// A run that never reaches afterAll is cleaned up too: at exit (process 'exit', synchronously), and —
// for a process killed outright — by the next lab, which removes namespaces whose owner pid (part of
// every namespace name: <tag><pid>n<counter>-<name>) is no longer alive.
// Never touches the host namespace's links, routes or firewall.
import { spawn, execFile, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { mkdir, rm, writeFile } from 'node:fs/promises';

const execFileP = promisify(execFile);

export interface ExecResult { stdout: string; stderr: string; code: number }

let labCounter = 0;

/** Namespace names this module makes: <tag><owner pid>n<counter>-<name>. */
const LAB_NS = /^(sy[a-z]*)(\d+)n(\d+)-/;
/** Labs not destroyed yet, deleted at exit if a run ends before its afterAll. */
const liveLabs = new Set<Lab>();
let sweeping: Promise<void> | null = null;

process.once('exit', () => {
  for (const lab of liveLabs) {
    for (const ns of lab.namespaces) {
      try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* gone */ }
    }
  }
});

/** Removes namespaces of labs whose process died without cleaning up (killed test runs). */
async function sweepStale(): Promise<void> {
  const list = await execFileP('ip', ['netns', 'list']).then((r) => r.stdout, () => '');
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = LAB_NS.exec(name);
    if (!m || Number(m[2]) === process.pid || existsSync(`/proc/${m[2]}`)) continue;
    const pids = await execFileP('ip', ['netns', 'pids', name]).then((r) => r.stdout.split(/\s+/).filter(Boolean), () => []);
    for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }
    await execFileP('ip', ['netns', 'del', name]).catch(() => undefined);
  }
}

export class Lab {
  /** Unique per process and per lab, short enough for interface names. */
  readonly id: string;
  readonly namespaces: string[] = [];
  readonly #children = new Set<ChildProcess>();
  readonly #etcDirs = new Set<string>();

  constructor(tag = 'sy') {
    this.id = `${tag}${process.pid}n${labCounter++}`;
  }

  /** Creates a namespace named `${id}-${name}` with loopback up; returns its full name. */
  async addNs(name: string): Promise<string> {
    sweeping ??= sweepStale();
    await sweeping;
    const ns = `${this.id}-${name}`;
    await run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    liveLabs.add(this);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * Links two namespaces with a veth pair and assigns addresses (CIDR strings, v4 or v6).
   * IPv6 addresses are added with `nodad` so they are usable at once.
   */
  async link(a: { ns: string; ifname: string; addrs: string[] }, b: { ns: string; ifname: string; addrs: string[] }): Promise<void> {
    const tmpA = `v${this.id.slice(-6)}a${labCounter}`;
    const tmpB = `v${this.id.slice(-6)}b${labCounter++}`;
    await run('ip', ['link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB]);
    await run('ip', ['link', 'set', tmpA, 'netns', a.ns, 'name', a.ifname]);
    await run('ip', ['link', 'set', tmpB, 'netns', b.ns, 'name', b.ifname]);
    for (const side of [a, b]) {
      for (const addr of side.addrs) {
        const v6 = addr.includes(':');
        await run('ip', ['-n', side.ns, ...(v6 ? ['-6'] : []), 'addr', 'add', addr, 'dev', side.ifname, ...(v6 ? ['nodad'] : [])]);
      }
      await run('ip', ['-n', side.ns, 'link', 'set', side.ifname, 'up']);
    }
  }

  /** Runs a command inside `ns` to completion. Rejects on a non-zero exit unless `allowFail`. */
  async exec(ns: string, cmd: string, args: string[] = [], opts: { allowFail?: boolean; timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    return execIn(ns, cmd, args, opts);
  }

  /** Starts a long-running process inside `ns`; killed by destroy(). */
  spawn(ns: string, cmd: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /**
   * Gives processes started in `ns` their own /etc/NAME (e.g. "hosts"): `ip netns exec` bind-mounts
   * /etc/netns/NS/NAME over /etc/NAME. The host's own /etc is never touched; destroy() removes it.
   */
  async etcFile(ns: string, name: string, text: string): Promise<void> {
    const dir = `/etc/netns/${ns}`;
    await mkdir(dir, { recursive: true });
    this.#etcDirs.add(dir);
    await writeFile(`${dir}/${name}`, text);
  }

  /** Kills every process started by spawn() and deletes every namespace. Never throws. */
  async destroy(): Promise<void> {
    for (const dir of this.#etcDirs) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    this.#etcDirs.clear();
    for (const child of this.#children) killTree(child, 'SIGKILL');
    this.#children.clear();
    for (const ns of this.namespaces.splice(0).reverse()) {
      // Processes started some other way inside the namespace would keep it alive: kill them too.
      const pids = await execFileP('ip', ['netns', 'pids', ns]).then((r) => r.stdout.split(/\s+/).filter(Boolean), () => []);
      for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }
      await execFileP('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
    liveLabs.delete(this);
  }
}

/** Sends `signal` to the child's whole process group (spawned detached). */
export function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try { process.kill(-child.pid, signal); } catch { try { child.kill(signal); } catch { /* gone */ } }
}

export async function execIn(ns: string, cmd: string, args: string[] = [], opts: { allowFail?: boolean; timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const r = { stdout, stderr, code: code ?? (signal ? 128 : 1) };
      if (r.code !== 0 && !opts.allowFail) reject(new Error(`${cmd} ${args.join(' ')} in ${ns} exited ${r.code}${signal ? ` (${signal})` : ''}: ${stderr.trim() || stdout.trim()}`));
      else resolve(r);
    });
    if (opts.input !== undefined) child.stdin.end(opts.input); else child.stdin.end();
  });
}

async function run(cmd: string, args: string[]): Promise<void> {
  try { await execFileP(cmd, args); } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')}: ${(e as { stderr?: string }).stderr?.trim() ?? String(e)}`);
  }
}

/** Snapshot of a namespace's links, addresses, routes (all tables) and rules, for restore checks. */
export async function netState(ns: string): Promise<string> {
  const parts: string[] = [];
  for (const args of [['-o', 'link', 'show'], ['-o', 'addr', 'show'], ['route', 'show', 'table', 'all'], ['-6', 'route', 'show', 'table', 'all'], ['rule', 'show'], ['-6', 'rule', 'show']]) {
    const r = await execIn(ns, 'ip', args, { allowFail: true });
    // Link counters and the ifindex-free parts are what we compare; drop volatile fields.
    parts.push(r.stdout.replace(/\\\s+link\/.*$/gm, '').replace(/ +(valid_lft|preferred_lft) \S+/g, '').trim());
  }
  return parts.join('\n---\n');
}
