// Issue 2 — the service's life cycle in a real namespace: it captures the traffic while it runs, and
// the namespace's links, addresses, routes (all tables) and rules are exactly as before after SIGTERM,
// after SIGINT, after kill -9 + `cleanup`, and after kill -9 + a second `up` (which recovers by itself).
// A bad config exits non-zero, names the key, and touches nothing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Lab, execIn, netState } from '../support/netns.js';
import { standardTopology, ADDR, type StandardTopology } from '../support/topology.js';
import { PeerSet, KIT_PORTS } from '../support/peers.js';
import { ServiceFiles, ServiceProcess, spawnService, runCli, toYaml } from '../support/service.js';

describe('switchyard service life cycle and restore', () => {
  const lab = new Lab('sylife');
  let topo: StandardTopology;
  let peers: PeerSet;
  let files: ServiceFiles;
  let pristine: string;
  /** Services started by a test; a test that fails midway leaves its service here for afterAll. */
  const started: ServiceProcess[] = [];

  beforeAll(async () => {
    topo = await standardTopology(lab);
    peers = await PeerSet.create(lab, topo.server);
    await peers.kit([ADDR.offlink4]);
    files = await ServiceFiles.create(lab.id);
    pristine = await netState(topo.client);
  }, 60_000);

  afterAll(async () => {
    for (const s of started) if (s.running) await s.stop('SIGTERM', 5000).catch(() => undefined);
    await lab.destroy();
    await peers?.dispose();
    await files?.remove();
  });

  const why = (svc: ServiceProcess | undefined, extra?: unknown): string =>
    `${extra === undefined ? '' : `${typeof extra === 'string' ? extra : JSON.stringify(extra)}\n`}--- switchyard log ---\n${svc?.tail() ?? '(none)'}`;

  async function up(): Promise<ServiceProcess> {
    const svc = spawnService(lab, topo.client, files);
    started.push(svc);
    await svc.waitReady(20_000);
    return svc;
  }

  /** Proves the service captures traffic: routes point into its TUN and a TCP exchange through it works. */
  async function expectCapturing(svc: ServiceProcess): Promise<void> {
    for (const addr of [ADDR.offlink4, ADDR.server4, ADDR.offlink6, ADDR.server6]) {
      const r = await execIn(topo.client, 'ip', ['route', 'get', addr], { allowFail: true });
      expect(r.stdout, why(svc, `ip route get ${addr} while running`)).toMatch(/ dev sy0 /);
    }
    const before = await tunPackets();
    const r = await peers.client<{ ok: boolean }>(topo.client, ['halfclose-client-first', ADDR.offlink4, KIT_PORTS.halfClose, 100_000]);
    expect(r.ok, why(svc, r)).toBe(true);
    const after = await tunPackets();
    expect(after, why(svc, `TUN rx packets before ${before}, after ${after}`)).toBeGreaterThan(before);
  }

  async function tunPackets(): Promise<number> {
    const r = await execIn(topo.client, 'cat', ['/sys/class/net/sy0/statistics/rx_packets', '/sys/class/net/sy0/statistics/tx_packets'], { allowFail: true });
    return r.stdout.split('\n').filter(Boolean).reduce((a, b) => a + Number(b), 0);
  }

  it('answers `up --help` and `cleanup --help` with exit 0', async () => {
    for (const cmd of ['up', 'cleanup']) {
      const r = await runCli(topo.client, [cmd, '--help']);
      expect(r.code, JSON.stringify(r)).toBe(0);
      expect(r.stdout + r.stderr, JSON.stringify(r)).toMatch(/--config/);
    }
  });

  it('captures traffic while running, and after SIGTERM exits 0 with links, routes and rules exactly as before', async () => {
    const svc = await up();
    expect(await netState(topo.client), why(svc, 'the namespace must change while running')).not.toEqual(pristine);
    await expectCapturing(svc);
    const stopped = await svc.stop('SIGTERM');
    expect(stopped, why(svc)).toEqual({ code: 0, signal: null, timedOut: false });
    expect(await netState(topo.client), why(svc, 'state after SIGTERM vs before start')).toEqual(pristine);
  }, 60_000);

  it('after SIGINT exits 0 with everything restored', async () => {
    const svc = await up();
    const stopped = await svc.stop('SIGINT');
    expect(stopped, why(svc)).toEqual({ code: 0, signal: null, timedOut: false });
    expect(await netState(topo.client), why(svc, 'state after SIGINT vs before start')).toEqual(pristine);
  }, 60_000);

  it('after kill -9 its ip rules remain, and `cleanup` restores everything', async () => {
    const svc = await up();
    const rulesRunning = (await execIn(topo.client, 'ip', ['rule', 'show'])).stdout;
    expect(rulesRunning.trim(), why(svc, 'the service must add ip rules')).not.toEqual(ruleLines(pristine));
    await svc.kill9();
    const leftover = await netState(topo.client);
    // The TUN dies with its fd, but policy rules outlive the process: without cleanup they stay.
    expect(leftover, why(svc, 'kill -9 must leave something for cleanup to undo (else this test proves nothing)')).not.toEqual(pristine);
    expect((await execIn(topo.client, 'ip', ['rule', 'show'])).stdout, why(svc, 'ip rules after kill -9')).toEqual(rulesRunning);
    const c = await runCli(topo.client, ['cleanup', '--config', files.configPath]);
    expect(c.code, why(svc, c)).toBe(0);
    expect(await netState(topo.client), why(svc, { cleanup: c, leftover })).toEqual(pristine);
    // A second cleanup finds nothing to do and still succeeds.
    const again = await runCli(topo.client, ['cleanup', '--config', files.configPath]);
    expect(again.code, JSON.stringify(again)).toBe(0);
    expect(await netState(topo.client)).toEqual(pristine);
  }, 60_000);

  it('after kill -9 a second `up` recovers by itself, runs, and restores everything on SIGTERM', async () => {
    const first = await up();
    await first.kill9();
    expect(await netState(topo.client), why(first, 'kill -9 must leave something behind')).not.toEqual(pristine);
    const second = await up();
    await expectCapturing(second);
    const stopped = await second.stop('SIGTERM');
    expect(stopped, why(second)).toEqual({ code: 0, signal: null, timedOut: false });
    expect(await netState(topo.client), why(second, 'state after recover + SIGTERM vs before the first start')).toEqual(pristine);
  }, 90_000);

  const badConfigs = [
    { key: 'tun.mtu', bad: '100000', edit: (c: Record<string, unknown>) => ({ ...c, tun: { name: 'sy0', mtu: 100000 } }) },
    { key: 'tun.name', bad: 'much-too-long-name-for-a-link', edit: (c: Record<string, unknown>) => ({ ...c, tun: { name: 'much-too-long-name-for-a-link', mtu: 1500 } }) },
    { key: 'route.include', bad: '10.0.0.0/33', edit: (c: Record<string, unknown>) => ({ ...c, route: { include: ['10.0.0.0/33'], exclude: [] } }) },
    { key: 'egress.interface', bad: 'nosuchif0', edit: (c: Record<string, unknown>) => ({ ...c, egress: { interface: 'nosuchif0' } }) },
  ];
  it.each(badConfigs)('rejects an invalid $key ($bad): exits non-zero, names the key and value, touches nothing', async ({ key, bad, edit }) => {
    const bf = await ServiceFiles.create(`${lab.id}-bad`);
    try {
      const base = { tun: { name: 'sy0', mtu: 1500 }, route: { include: ['0.0.0.0/0', '::/0'], exclude: [] }, egress: { interface: 'auto' }, stateDir: bf.stateDir, log: { level: 'info' } };
      await bf.writeRaw(toYaml(edit(base)));
      const svc = spawnService(lab, topo.client, bf);
      started.push(svc);
      const stopped = await svc.waitExit(15_000);
      const context = why(svc, { config: await bf.configText(), exit: stopped });
      expect(stopped.timedOut, context).toBe(false);
      expect(stopped.code, context).not.toBe(0);
      expect(stopped.code, context).not.toBeNull();
      expect(svc.log, context).not.toContain('service ready');
      const [section, field] = key.split('.') as [string, string];
      expect(svc.log, context).toMatch(new RegExp(`${section}\\W{1,3}${field}`));
      expect(svc.log, context).toContain(bad);
      expect(await netState(topo.client), context).toEqual(pristine);
    } finally { await bf.remove(); }
  }, 30_000);
});

function ruleLines(state: string): string {
  return state.split('\n---\n')[4] ?? '';
}
