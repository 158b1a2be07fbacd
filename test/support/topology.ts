// The standard namespace topologies the integration tests and the bench build on (TEST-NET addresses
// only, RFC 5737 / RFC 3849, so nothing here can ever be mistaken for a real host).
//
// standardTopology — the service runs in `client`; `server` hosts the peers:
//
//   client                               server
//   ┌──────────────────────┐   veth     ┌─────────────────────────────┐
//   │ 192.0.2.1/24         │────────────│ 192.0.2.2/24                │
//   │ 2001:db8:1::1/64     │            │ 2001:db8:1::2/64            │
//   │ default via .2 / ::2 │            │ lo: 198.51.100.10/32        │  ← off-link, reached via
//   └──────────────────────┘            │     2001:db8:2::10/128      │    the client's default route
//                                       └─────────────────────────────┘
//   Nobody owns 192.0.2.99 / 2001:db8:1::99 (on-link: neighbour resolution fails) nor 203.0.113.1 /
//   2001:db8:2::99 (off-link: the server does not forward, so the packet is dropped silently).
//
// routedTopology — the kernel-routing baseline for the bench: the same client and server addresses
// seen from the client, with one plain kernel forwarding step in between (ip_forward is set inside the
// router namespace only):
//
//   client ── 192.0.2.0/24, 2001:db8:1::/64 ── router ── 203.0.113.128/25, 2001:db8:3::/64 ── server
//                                              (forwarding)                          lo: 198.51.100.10
//                                                                                        2001:db8:2::10
import { Lab, execIn } from './netns.js';

export interface Addresses {
  /** The client's own addresses (egress of the service). */
  client4: string;
  client6: string;
  /** The server's address on the client's link. */
  server4: string;
  server6: string;
  /** The server's off-link address, reached through the client's default route. */
  offlink4: string;
  offlink6: string;
  /** Addresses nobody owns: on-link (neighbour resolution fails) and off-link (dropped silently). */
  noHostOnlink4: string;
  noHostOnlink6: string;
  noHostOfflink4: string;
  noHostOfflink6: string;
}

export interface StandardTopology {
  lab: Lab;
  client: string;
  server: string;
  /** The client's interface towards the server (the service's egress). */
  clientIf: string;
  addr: Addresses;
}

export interface RoutedTopology {
  lab: Lab;
  client: string;
  router: string;
  server: string;
  clientIf: string;
  addr: Addresses;
}

export const ADDR: Addresses = {
  client4: '192.0.2.1',
  client6: '2001:db8:1::1',
  server4: '192.0.2.2',
  server6: '2001:db8:1::2',
  offlink4: '198.51.100.10',
  offlink6: '2001:db8:2::10',
  noHostOnlink4: '192.0.2.99',
  noHostOnlink6: '2001:db8:1::99',
  noHostOfflink4: '203.0.113.1',
  noHostOfflink6: '2001:db8:2::99',
};

/** Builds client ⇄ server (see the file header). The caller owns `lab` and destroys it. */
export async function standardTopology(lab: Lab): Promise<StandardTopology> {
  const client = await lab.addNs('client');
  const server = await lab.addNs('server');
  await lab.link(
    { ns: client, ifname: 'eth0', addrs: ['192.0.2.1/24', '2001:db8:1::1/64'] },
    { ns: server, ifname: 'eth0', addrs: ['192.0.2.2/24', '2001:db8:1::2/64'] },
  );
  await addOfflinkAddresses(server);
  await ip(client, ['route', 'add', 'default', 'via', ADDR.server4, 'dev', 'eth0']);
  await ip(client, ['-6', 'route', 'add', 'default', 'via', ADDR.server6, 'dev', 'eth0']);
  await waitIpv6Ready(client, 'eth0');
  await waitIpv6Ready(server, 'eth0');
  return { lab, client, server, clientIf: 'eth0', addr: ADDR };
}

/** Builds client ⇄ router ⇄ server with kernel forwarding in `router` only (see the file header). */
export async function routedTopology(lab: Lab): Promise<RoutedTopology> {
  const client = await lab.addNs('kclient');
  const router = await lab.addNs('krouter');
  const server = await lab.addNs('kserver');
  await lab.link(
    { ns: client, ifname: 'eth0', addrs: ['192.0.2.1/24', '2001:db8:1::1/64'] },
    { ns: router, ifname: 'eth0', addrs: ['192.0.2.2/24', '2001:db8:1::2/64'] },
  );
  await lab.link(
    { ns: router, ifname: 'eth1', addrs: ['203.0.113.129/25', '2001:db8:3::1/64'] },
    { ns: server, ifname: 'eth0', addrs: ['203.0.113.130/25', '2001:db8:3::2/64'] },
  );
  // Forwarding is a per-namespace sysctl: set it in the router's namespace, never on the host.
  await execIn(router, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  await addOfflinkAddresses(server);
  await ip(client, ['route', 'add', 'default', 'via', '192.0.2.2', 'dev', 'eth0']);
  await ip(client, ['-6', 'route', 'add', 'default', 'via', '2001:db8:1::2', 'dev', 'eth0']);
  await ip(router, ['route', 'add', `${ADDR.offlink4}/32`, 'via', '203.0.113.130', 'dev', 'eth1']);
  await ip(router, ['-6', 'route', 'add', `${ADDR.offlink6}/128`, 'via', '2001:db8:3::2', 'dev', 'eth1']);
  await ip(server, ['route', 'add', 'default', 'via', '203.0.113.129', 'dev', 'eth0']);
  await ip(server, ['-6', 'route', 'add', 'default', 'via', '2001:db8:3::1', 'dev', 'eth0']);
  for (const [ns, dev] of [[client, 'eth0'], [router, 'eth0'], [router, 'eth1'], [server, 'eth0']] as const) await waitIpv6Ready(ns, dev);
  return { lab, client, router, server, clientIf: 'eth0', addr: ADDR };
}

async function addOfflinkAddresses(server: string): Promise<void> {
  await ip(server, ['addr', 'add', `${ADDR.offlink4}/32`, 'dev', 'lo']);
  await ip(server, ['-6', 'addr', 'add', `${ADDR.offlink6}/128`, 'dev', 'lo']);
}

async function ip(ns: string, args: string[]): Promise<void> {
  await execIn(ns, 'ip', args);
}

/**
 * Waits until no address on `dev` is tentative (the link-local one goes through DAD even though the
 * lab adds the global ones with nodad); neighbour discovery is unreliable before that.
 */
export async function waitIpv6Ready(ns: string, dev: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await execIn(ns, 'ip', ['-6', 'addr', 'show', 'dev', dev, 'tentative'], { allowFail: true });
    if (r.code === 0 && r.stdout.trim() === '') return;
    if (Date.now() > deadline) throw new Error(`IPv6 addresses on ${dev} in ${ns} still tentative after ${timeoutMs} ms:\n${r.stdout}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}
