// Two services in two network namespaces with the same control socket path (the default one, for
// instance): the second still routes — the API socket belongs to the first — and says so in its log.
import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Lab } from '../support/netns.js';
import { standardTopology, ADDR } from '../support/topology.js';
import { PeerSet, KIT_PORTS } from '../support/peers.js';
import { ServiceFiles, ServiceProcess, spawnService, runCli } from '../support/service.js';

describe('two services, one control socket path', () => {
  const labs = [new Lab('syshA'), new Lab('syshB')];
  const services: ServiceProcess[] = [];
  const files: ServiceFiles[] = [];
  const peers: PeerSet[] = [];
  let dir = '';

  afterAll(async () => {
    for (const s of services) if (s.running) await s.stop('SIGTERM', 5000).catch(() => undefined);
    for (const l of labs) await l.destroy();
    for (const p of peers) await p.dispose();
    for (const f of files) await f.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the second service routes without an API and logs why; the first answers the API', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-shared-'));
    const socket = join(dir, 'control.sock');
    for (const lab of labs) {
      const topo = await standardTopology(lab);
      const p = await PeerSet.create(lab, topo.server);
      peers.push(p);
      await p.kit([ADDR.offlink4]);
      const f = await ServiceFiles.create(lab.id, { control: { socket } });
      files.push(f);
      const svc = spawnService(lab, topo.client, f);
      services.push(svc);
      await svc.waitReady(20_000);
      const r = await p.client<{ ok: boolean }>(topo.client, ['halfclose-client-first', ADDR.offlink4, KIT_PORTS.halfClose, 10_000]);
      expect(r.ok, svc.tail()).toBe(true);
    }
    expect(services[1]!.log).toMatch(/control API disabled: its socket belongs to another running Switchyard service/);
    expect(services[0]!.log).not.toMatch(/control API disabled/);
    const status = await runCli(labs[0]!.namespaces[0]!, ['status', '--socket', socket]);
    expect(status.code, status.stderr).toBe(0);
  }, 90_000);
});
