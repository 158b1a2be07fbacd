// native/route — the OS state of gateway mode on Linux, journalled with the routes (linux.ts):
//
//   sysctl  net.ipv4.ip_forward = 1                    (and net.ipv6.conf.all.forwarding = 1 when
//                                                        IPv6 from LAN devices is routed)
//   nft     table ip switchyard_gw / ip6 switchyard_gw6: DNS queries LAN devices send to the gateway
//           itself (fib daddr type local, port 53) are DNAT'ed to a resolver beyond the TUN, so
//           they are forwarded into the TUN like any other flow: rules and the domain map see them.
//
// A sysctl's previous value is journalled *before* it is changed, and restored on teardown and by
// recover(); the nft tables are journalled before they are created and deleted on undo. Everything
// acts on the network namespace the service runs in (sysctls under /proc/sys/net are per namespace).
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import type { JournalEntry } from '../../app/service/journal.js';
import type { GatewayState } from '../../app/os/routing.js';

/** A sysctl the service changed, with the value to restore. */
export interface SysctlEntry extends JournalEntry {
  kind: 'sysctl';
  key: string;
  previous: string;
}

/** An nftables table the service created. */
export interface NftEntry extends JournalEntry {
  kind: 'nft';
  family: 'ip' | 'ip6';
  table: string;
}

export const NFT_TABLE4 = 'switchyard_gw';
export const NFT_TABLE6 = 'switchyard_gw6';
export const FORWARD4 = 'net.ipv4.ip_forward';
export const FORWARD6 = 'net.ipv6.conf.all.forwarding';

export function isSysctlEntry(e: JournalEntry): e is SysctlEntry {
  return e.kind === 'sysctl' && typeof e.key === 'string' && typeof e.previous === 'string';
}

export function isNftEntry(e: JournalEntry): e is NftEntry {
  return e.kind === 'nft' && (e.family === 'ip' || e.family === 'ip6') && typeof e.table === 'string';
}

/**
 * The sysctls gateway mode wants (key → value); none when it is off. IPv6 forwarding is on in both
 * IPv6 modes: 'refuse' is carried out by the engine (a reset or ICMPv6 "administratively
 * prohibited" the device notices), not by a silent drop. Forwarding makes Linux ignore router
 * advertisements unless accept_ra is 2, so the egress keeps its RA-learned IPv6 route that way.
 */
export function desiredSysctls(g: GatewayState | undefined, current: (key: string) => string | null = () => null): Map<string, string> {
  const out = new Map<string, string>();
  if (!g) return out;
  out.set(FORWARD4, '1');
  out.set(FORWARD6, '1');
  if (g.egress && /^[A-Za-z0-9_.-]{1,15}$/.test(g.egress)) {
    const key = `net.ipv6.conf.${g.egress}.accept_ra`;
    if (current(key) === '1') out.set(key, '2');
  }
  return out;
}

/**
 * The nft script creating one family's DNS redirect table (atomic with `nft -f -`): queries from the
 * LAN interfaces to any local address, port 53 (UDP and TCP), go to `resolver:53` instead.
 */
export function dnsRedirectScript(family: 'ip' | 'ip6', table: string, interfaces: readonly string[], resolver: string): string {
  const ifs = interfaces.map((i) => JSON.stringify(i)).join(', ');
  const to = family === 'ip6' ? `[${resolver}]:53` : `${resolver}:53`;
  return [
    `table ${family} ${table} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    iifname { ${ifs} } fib daddr type local meta l4proto { udp, tcp } th dport 53 dnat to ${to}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The nft tables gateway mode wants: one per family that has a resolver. */
export function desiredNft(g: GatewayState | undefined): { entry: NftEntry; script: string }[] {
  if (!g || g.interfaces.length === 0) return [];
  const out: { entry: NftEntry; script: string }[] = [];
  if (g.dns4) out.push({ entry: { kind: 'nft', family: 'ip', table: NFT_TABLE4 }, script: dnsRedirectScript('ip', NFT_TABLE4, g.interfaces, g.dns4) });
  if (g.dns6 && g.ipv6 === 'route') out.push({ entry: { kind: 'nft', family: 'ip6', table: NFT_TABLE6 }, script: dnsRedirectScript('ip6', NFT_TABLE6, g.interfaces, g.dns6) });
  return out;
}

function sysctlPath(key: string): string {
  if (!/^net\.[a-z0-9_.]+$/.test(key)) throw new Error(`refusing to touch sysctl ${JSON.stringify(key)}`);
  return `/proc/sys/${key.replaceAll('.', '/')}`;
}

export async function readSysctl(key: string): Promise<string> {
  return (await readFile(sysctlPath(key), 'utf8')).trim();
}

export async function writeSysctl(key: string, value: string): Promise<void> {
  await writeFile(sysctlPath(key), `${value}\n`);
}

/** Runs `nft` with `args`, optionally feeding `input`; rejects with its stderr. */
export function runNft(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('nft', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`\`nft ${args.join(' ')}\` failed: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Deletes an nft table; a table that is not there is fine. */
export async function deleteNftTable(family: 'ip' | 'ip6', table: string): Promise<boolean> {
  try {
    await runNft(['delete', 'table', family, table]);
    return true;
  } catch (e) {
    if (/No such file or directory|does not exist/.test((e as Error).message)) return false;
    throw e;
  }
}

/** Replaces an nft table with `script` in one transaction (delete-if-present + create). */
export async function replaceNftTable(family: 'ip' | 'ip6', table: string, script: string): Promise<void> {
  // `add table` first makes the `delete` valid whether or not the table exists; nft -f is atomic.
  await runNft(['-f', '-'], `add table ${family} ${table}\ndelete table ${family} ${table}\n${script}`);
}
