// Issue 2 — UDP, DNS and ICMP echo through the Switchyard TUN, for real: the kit's UDP echo (Node),
// dig against dnsmasq, and ping, all run inside the client namespace. Each scenario runs first over
// plain kernel routing (no service: proves the lab and the check), then through the service.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTrafficLab, ENGINE_MODES, type ServiceConfig, type TrafficLab } from '../support/service.js';
import { KIT_PORTS, DNS_NAMES } from '../support/peers.js';
import { execIn } from '../support/netns.js';
import { ADDR } from '../support/topology.js';

interface EchoReport { size: number; count: number; echoed: number; mismatched: number; lost: number; resent: number; wrongSource: number }
interface ManyReport { n: number; echoed: number; lost: number; wrong: number; wrongSource: number; ports: number }

const RUNS = [{ mode: 'kernel' as const, label: 'over plain kernel routing (lab baseline, no service)', service: undefined, expectLog: undefined },
  ...ENGINE_MODES.map((m) => ({ mode: 'switchyard' as const, label: `through the switchyard TUN (${m.name})`, service: m.service as ServiceConfig, expectLog: m.expect as RegExp }))];

for (const { mode, label, service, expectLog } of RUNS) {
  describe(`UDP, DNS and ping ${label}`, () => {
    let t: TrafficLab;
    beforeAll(async () => { t = await startTrafficLab(mode, { dns: true, tag: 'syudp', ...(service ? { service } : {}) }); }, 90_000);

    it.runIf(mode === 'switchyard')('runs in the mode under test', () => {
      expect(t.svc!.log, t.why()).toMatch(expectLog!);
    });
    afterAll(async () => { await t?.dispose(); });

    it.each([
      { family: 'IPv4', addr: ADDR.offlink4, size: 64 },
      { family: 'IPv4', addr: ADDR.offlink4, size: 1400 },
      { family: 'IPv4', addr: ADDR.server4, size: 8000 },
      { family: 'IPv4', addr: ADDR.offlink4, size: 60000 },
      { family: 'IPv4', addr: ADDR.offlink4, size: 65507 },
      { family: 'IPv6', addr: ADDR.offlink6, size: 64 },
      { family: 'IPv6', addr: ADDR.server6, size: 8000 },
      { family: 'IPv6', addr: ADDR.offlink6, size: 60000 },
    ])('echoes $size-byte datagrams over $family ($addr) byte for byte', async ({ addr, size }) => {
      const r = await t.peers.client<EchoReport>(t.topo.client, ['udp-echo', addr, KIT_PORTS.udpEcho, size, 20]);
      expect(r.echoed, t.why(r)).toBe(20);
      expect(r.mismatched, t.why(r)).toBe(0);
      expect(r.wrongSource, t.why(r)).toBe(0);
    });

    it.each([{ family: 'IPv4', addr: ADDR.offlink4 }, { family: 'IPv6', addr: ADDR.offlink6 }])(
      'carries 500 short UDP flows (500 distinct source ports) over $family', async ({ addr }) => {
        const r = await t.peers.client<ManyReport>(t.topo.client, ['udp-many', addr, KIT_PORTS.udpEcho, 500]);
        expect(r.ports, t.why(r)).toBe(500);
        expect(r.echoed, t.why(r)).toBe(500);
        expect(r.wrong, t.why(r)).toBe(0);
        expect(r.wrongSource, t.why(r)).toBe(0);
      });

    const dnsCases = [
      { server: ADDR.server4, transport: 'UDP', type: 'A' as const },
      { server: ADDR.server4, transport: 'TCP', type: 'AAAA' as const },
      { server: ADDR.offlink4, transport: 'TCP', type: 'A' as const },
      { server: ADDR.server6, transport: 'UDP', type: 'AAAA' as const },
      { server: ADDR.offlink6, transport: 'UDP', type: 'A' as const },
      { server: ADDR.offlink6, transport: 'TCP', type: 'AAAA' as const },
    ];
    it.each(dnsCases)('resolves $type with dig over $transport from dnsmasq at $server', async ({ server, transport, type }) => {
      for (const [name, rec] of Object.entries(DNS_NAMES)) {
        const args = [`@${server}`, name, type, '+short', '+time=2', '+tries=2', ...(transport === 'TCP' ? ['+tcp'] : ['+notcp', '+ignore'])];
        const r = await execIn(t.topo.client, 'dig', args, { allowFail: true });
        expect({ code: r.code, answer: r.stdout.trim() }, t.why({ dig: args.join(' '), ...r })).toEqual({ code: 0, answer: type === 'A' ? rec.a : rec.aaaa });
      }
    });

    it.each([ADDR.server4, ADDR.offlink4, ADDR.server6, ADDR.offlink6])('ping to %s is answered', async (addr) => {
      const r = await execIn(t.topo.client, 'ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', addr], { allowFail: true });
      expect(r.code, t.why(r)).toBe(0);
      expect(r.stdout, t.why(r)).toMatch(/3 packets transmitted, 3 received/);
    });

    it('ping to addresses with no host is not answered (exit 1, 0 received)', async () => {
      const addrs = [ADDR.noHostOnlink4, ADDR.noHostOfflink4, ADDR.noHostOnlink6, ADDR.noHostOfflink6];
      const results = await Promise.all(addrs.map((a) => execIn(t.topo.client, 'ping', ['-n', '-c', '2', '-i', '0.5', '-w', '4', a], { allowFail: true }).then((r) => ({ addr: a, ...r }))));
      for (const r of results) {
        expect(r.code, t.why(r)).toBe(1);
        expect(r.stdout, t.why(r)).toMatch(/ 0 received/);
      }
    }, 20_000);
  });
}
