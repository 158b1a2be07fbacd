// service — the routing state the service asks the OS for (app/os/routing.ts RoutingState), from the
// config, the egress and, in gateway mode, the LAN interfaces' subnets and the resolver LAN devices'
// DNS queries are redirected to.
import { readFile } from 'node:fs/promises';
import type { Config } from './config.js';
import type { Logger } from '../log.js';
import type { EgressInfo, GatewayState, NetworkInfo, RoutingState } from '../os/routing.js';
import { formatAddress, maskAddress, parseAddress } from '../net/cidr.js';

/**
 * The routing the service wants. In gateway mode the LAN interfaces' subnets are excluded (their
 * own routes carry replies to the devices, and reverse-path checks pass), forwarding is turned on
 * and DNS queries to the gateway are redirected through the engine (native/route/gateway-linux.ts).
 */
export async function routingState(config: Config, tunName: string, egress: EgressInfo, network: NetworkInfo, gateway: boolean, log: Logger): Promise<RoutingState> {
  const state: RoutingState = {
    tunName, table: config.route.table, rulePriority: config.route.rulePriority, fwmark: config.route.fwmark,
    include: config.route.include, exclude: [...config.route.exclude],
    bypassSources: [egress.address4, egress.address6].filter((a): a is string => a !== undefined),
  };
  if (!gateway) return state;
  for (const name of config.gateway.interfaces) {
    const addrs = await network.addresses(name);
    if (addrs.length === 0) log.warn(`gateway: interface ${name} has no address; its devices cannot use this machine as their gateway yet`);
    for (const a of addrs) {
      const bytes = parseAddress(a.address);
      if (typeof bytes === 'string') continue;
      const subnet = `${formatAddress(maskAddress(bytes.bytes, a.prefix))}/${a.prefix}`;
      if (!state.exclude.includes(subnet)) state.exclude.push(subnet);
    }
  }
  const dns = await gatewayDns(config.gateway.dns);
  const g: GatewayState = { interfaces: config.gateway.interfaces, ipv6: config.gateway.ipv6, egress: egress.interface, ...dns };
  state.gateway = g;
  return state;
}

/** The resolvers LAN devices' DNS queries to the gateway go to: configured, or from /etc/resolv.conf. */
async function gatewayDns(setting: string): Promise<{ dns4?: string; dns6?: string }> {
  if (setting === 'off') return {};
  if (setting !== 'auto') {
    const a = parseAddress(setting);
    if (typeof a === 'string') return {};
    return a.family === 4 ? { dns4: setting } : { dns6: setting };
  }
  const text = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  const out: { dns4?: string; dns6?: string } = {};
  for (const m of text.matchAll(/^\s*nameserver\s+(\S+)/gm)) {
    const a = parseAddress(m[1]!);
    if (typeof a === 'string') continue;
    // A loopback resolver (systemd-resolved's 127.0.0.53) cannot be a DNAT target for forwarded packets.
    if (a.family === 4 && a.bytes[0] === 127) continue;
    if (a.family === 6 && m[1] === '::1') continue;
    if (a.family === 4) out.dns4 ??= m[1]!; else out.dns6 ??= m[1]!;
  }
  return out;
}

