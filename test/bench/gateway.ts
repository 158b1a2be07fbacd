// Bench step (issue 6): a LAN device's TCP throughput through the gateway, plain kernel forwarding
// against Switchyard's gateway mode, between the same namespaces in the same run:
//
//   device 10.77.0.10 ── veth ── gateway (10.77.0.1 | 192.0.2.1) ── veth ── server 192.0.2.2 (+ 198.51.100.10)
//   kernel:     ip_forward in the gateway namespace, the server routes 10.77.0.0/24 back via the gateway
//   switchyard: the service in the gateway with gateway mode on (forwarding into the TUN, the engine dials)
// GRO is asked for on the gateway's LAN veth in both runs, as a physical NIC has it (measured: no
// real change, 1.5 → 1.7 Gbit/s upload: forwarded segments still reach the TUN one by one, so the
// upload is bound by the engine's per-packet cost — the download arrives as GSO super-packets).
import { Lab, execIn } from '../support/netns.js';
import { ADDR, waitIpv6Ready } from '../support/topology.js';
import { PeerSet } from '../support/peers.js';
import { ServiceFiles, startService, runCli, type ServiceProcess } from '../support/service.js';
import { iperfTcp } from './iperf.js';

export interface GatewayFigures {
  kernelUp?: number; kernelDown?: number;
  switchyardUp?: number; switchyardDown?: number;
}

/** Builds the three namespaces, measures both ways, tears everything down. */
export async function measureGateway(seconds: number, log: (m: string) => void, f: GatewayFigures): Promise<void> {
  const lab = new Lab('sybgw');
  let peers: PeerSet | undefined;
  let files: ServiceFiles | undefined;
  let svc: ServiceProcess | undefined;
  try {
    const device = await lab.addNs('dev');
    const gw = await lab.addNs('gw');
    const server = await lab.addNs('srv');
    await lab.link({ ns: device, ifname: 'eth0', addrs: ['10.77.0.10/24'] }, { ns: gw, ifname: 'lan0', addrs: ['10.77.0.1/24'] });
    await lab.link({ ns: gw, ifname: 'eth0', addrs: ['192.0.2.1/24', '2001:db8:1::1/64'] }, { ns: server, ifname: 'eth0', addrs: ['192.0.2.2/24', '2001:db8:1::2/64'] });
    await execIn(server, 'ip', ['addr', 'add', `${ADDR.offlink4}/32`, 'dev', 'lo']);
    await execIn(device, 'ip', ['route', 'add', 'default', 'via', '10.77.0.1']);
    await execIn(gw, 'ip', ['route', 'add', 'default', 'via', '192.0.2.2']);
    await execIn(server, 'ip', ['route', 'add', '10.77.0.0/24', 'via', '192.0.2.1']);
    await waitIpv6Ready(gw, 'eth0');
    // A physical LAN NIC does GRO; a veth only when asked (it then uses NAPI). Both runs get the same.
    await execIn(gw, 'ethtool', ['-K', 'lan0', 'gro', 'on'], { allowFail: true });
    peers = await PeerSet.create(lab, server);
    await peers.iperf3(ADDR.offlink4);

    log('gateway: kernel forwarding, LAN device → server, TCP 1 stream up / down');
    await execIn(gw, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    f.kernelUp = await iperfTcp(device, ADDR.offlink4, { seconds, streams: 1, reverse: false });
    f.kernelDown = await iperfTcp(device, ADDR.offlink4, { seconds, streams: 1, reverse: true });
    await execIn(gw, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']);

    log('gateway: Switchyard gateway mode, the same device and server');
    files = await ServiceFiles.create(lab.id, { egress: { interface: 'eth0' }, gateway: { enabled: true, interfaces: ['lan0'], dns: 'off' } });
    svc = await startService(lab, gw, files);
    f.switchyardUp = await iperfTcp(device, ADDR.offlink4, { seconds, streams: 1, reverse: false });
    f.switchyardDown = await iperfTcp(device, ADDR.offlink4, { seconds, streams: 1, reverse: true });
    // Proof the traffic went through the engine: its TCP sessions (closed ones linger 10 s) are there.
    const st = await runCli(gw, ['status', '--json', '--config', files.configPath]);
    const tcp = (JSON.parse(st.stdout) as { counts: { sessions: { tcp: number } } }).counts.sessions.tcp;
    if (!(tcp > 0)) throw new Error(`no TCP session through the engine during the gateway run: ${st.stdout}${st.stderr}`);
    await svc.stop('SIGTERM');
  } catch (e) {
    throw new Error(`gateway bench: ${(e as Error).message}${svc ? `\n--- switchyard log ---\n${svc.tail()}` : ''}`);
  } finally {
    if (svc?.running) await svc.stop('SIGTERM').catch(() => undefined);
    await lab.destroy();
    await peers?.dispose();
    await files?.remove();
  }
}
