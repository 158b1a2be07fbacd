// Routing must survive a network change: when the egress address changes under a running service
// (DHCP renewal, a different Wi-Fi), the service notices, rebinds its direct sockets and re-applies
// its bypass rule, so new connections keep working — and nothing is left behind after stop.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Lab, execIn, netState } from '../support/netns.js';
import { standardTopology, ADDR, type StandardTopology } from '../support/topology.js';
import { PeerSet, KIT_PORTS } from '../support/peers.js';
import { ServiceFiles, ServiceProcess, spawnService } from '../support/service.js';

describe('a network change under a running service', () => {
  const lab = new Lab('synet');
  let topo: StandardTopology;
  let peers: PeerSet;
  let files: ServiceFiles;
  let svc: ServiceProcess | undefined;

  beforeAll(async () => {
    topo = await standardTopology(lab);
    peers = await PeerSet.create(lab, topo.server);
    await peers.kit([ADDR.offlink4]);
    files = await ServiceFiles.create(lab.id);
  }, 60_000);

  afterAll(async () => {
    if (svc?.running) await svc.stop('SIGTERM', 5000).catch(() => undefined);
    await lab.destroy();
    await peers?.dispose();
    await files?.remove();
  });

  const why = (extra?: unknown): string => `${extra === undefined ? '' : `${JSON.stringify(extra)}\n`}--- switchyard log ---\n${svc?.tail() ?? '(none)'}`;
  const exchange = () => peers.client<{ ok: boolean }>(topo.client, ['halfclose-client-first', ADDR.offlink4, KIT_PORTS.halfClose, 10_000]);
  const ip = (args: string[]) => execIn(topo.client, 'ip', args);

  it('moves to the new egress address and keeps forwarding; stop restores the changed namespace exactly', async () => {
    svc = spawnService(lab, topo.client, files);
    await svc.waitReady(20_000);
    expect((await exchange()).ok, why()).toBe(true);

    // Renumber the client as a DHCP change would: the old address (and with it the default route)
    // goes, a new one in the same subnet comes, the default route comes back through it.
    await ip(['addr', 'del', `${ADDR.client4}/24`, 'dev', topo.clientIf]);
    await ip(['addr', 'add', '192.0.2.77/24', 'dev', topo.clientIf]);
    await ip(['route', 'replace', 'default', 'via', ADDR.server4, 'dev', topo.clientIf]);
    const afterChange = await netStateWithoutService();

    const deadline = Date.now() + 5000;
    let rules = '';
    while (Date.now() < deadline) {
      rules = (await ip(['rule', 'show'])).stdout;
      if (rules.includes('from 192.0.2.77 lookup main')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(rules, why('ip rule after the change')).toContain('from 192.0.2.77 lookup main');
    expect(rules, why('the old bypass rule must be gone')).not.toContain(`from ${ADDR.client4} lookup main`);
    expect(svc.log, why()).toMatch(/network changed: new egress/);
    const r = await exchange();
    expect(r.ok, why(r)).toBe(true);

    const stopped = await svc.stop('SIGTERM');
    expect(stopped.code, why(stopped)).toBe(0);
    expect(await netState(topo.client), why('state after stop vs the renumbered namespace')).toEqual(afterChange);
  }, 60_000);

  /** What the client namespace looks like with the service's own routes/rules/TUN filtered out. */
  async function netStateWithoutService(): Promise<string> {
    return (await netState(topo.client)).split('\n')
      .filter((l) => !/sy0|lookup 5359|table 5359|fwmark 0x5359|^9\d\d\d:|lookup main$/.test(l) || /^(0|32766|32767):/.test(l))
      .join('\n');
  }
});
