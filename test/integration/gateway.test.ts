// Issue 6, end to end: gateway mode. Three "LAN device" namespaces sit behind the gateway namespace
// (a bridge), a server namespace beyond it; the service runs in the gateway. Where each device's
// traffic went is proven by nginx's access log (the address it saw: the gateway's own = direct through
// the engine; dante's = through the upstream) — not only by its arrival.
//
//   devA 10.77.0.10 ─┐                      gateway                         server
//   devB 10.77.0.11 ─┼─ br0 10.77.0.1/24 ── [switchyard, TUN] ── eth0 192.0.2.1 ── 192.0.2.2 (dante :1080,
//   devC 10.77.0.12 ─┘   fd77::1/64                                                dnsmasq, nginx on
//   (devices: default via 10.77.0.1 / fd77::1)                                     198.51.100.10 :80)
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Lab, execIn, netState } from '../support/netns.js';
import { ADDR, waitIpv6Ready } from '../support/topology.js';
import { PeerSet } from '../support/peers.js';
import { ServiceFiles, ServiceProcess, spawnService, runCli } from '../support/service.js';
import { ControlClient } from '../../app/control/client.js';
import type { Session } from '../../app/protocol/index.js';

const MAC = { a: '02:00:00:77:00:0a', b: '02:00:00:77:00:0b', c: '02:00:00:77:00:0c' };
const IP = { a: '10.77.0.10', b: '10.77.0.11', c: '10.77.0.12' };

describe('gateway mode: LAN devices routed device by device', () => {
  const lab = new Lab('sygw');
  let gw: string, server: string;
  const dev: Record<'a' | 'b' | 'c', string> = { a: '', b: '', c: '' };
  let peers: PeerSet;
  let files: ServiceFiles;
  let svc: ServiceProcess | undefined;
  let client: ControlClient | undefined;
  let accessLog: string;
  let pristine: string;
  let pristineSysctl: string;

  beforeAll(async () => {
    gw = await lab.addNs('gw');
    server = await lab.addNs('srv');
    await lab.link({ ns: gw, ifname: 'eth0', addrs: ['192.0.2.1/24', '2001:db8:1::1/64'] }, { ns: server, ifname: 'eth0', addrs: ['192.0.2.2/24', '2001:db8:1::2/64'] });
    await execIn(server, 'ip', ['addr', 'add', `${ADDR.offlink4}/32`, 'dev', 'lo']);
    await execIn(server, 'ip', ['-6', 'addr', 'add', `${ADDR.offlink6}/128`, 'dev', 'lo']);
    await execIn(gw, 'ip', ['route', 'add', 'default', 'via', '192.0.2.2']);
    await execIn(gw, 'ip', ['-6', 'route', 'add', 'default', 'via', '2001:db8:1::2']);
    // The server answers the LAN only through the gateway's engine (it has no route to 10.77/16):
    // a packet that leaked around the engine would get no reply.
    await execIn(gw, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    await execIn(gw, 'ip', ['addr', 'add', '10.77.0.1/24', 'dev', 'br0']);
    await execIn(gw, 'ip', ['-6', 'addr', 'add', 'fd77::1/64', 'dev', 'br0', 'nodad']);
    await execIn(gw, 'ip', ['link', 'set', 'br0', 'up']);
    for (const k of ['a', 'b', 'c'] as const) {
      dev[k] = await lab.addNs(`dev${k}`);
      await lab.link({ ns: dev[k], ifname: 'eth0', addrs: [`${IP[k]}/24`, `fd77::${k === 'a' ? 10 : k === 'b' ? 11 : 12}/64`] }, { ns: gw, ifname: `lan${k}`, addrs: [] });
      await execIn(dev[k], 'ip', ['link', 'set', 'eth0', 'address', MAC[k]]);
      await execIn(gw, 'ip', ['link', 'set', `lan${k}`, 'master', 'br0']);
      await execIn(dev[k], 'ip', ['route', 'add', 'default', 'via', '10.77.0.1']);
      await execIn(dev[k], 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd77::1']);
    }
    peers = await PeerSet.create(lab, server);
    accessLog = join(peers.dir, 'access.log');
    await startNginx(peers, accessLog);
    await peers.dnsmasq([ADDR.server4]);
    await peers.dante(ADDR.server4);
    for (const ifname of ['eth0', 'br0', 'lana', 'lanb', 'lanc']) await waitIpv6Ready(gw, ifname);
    // Forwarding is off in a fresh namespace: gateway mode must turn it on, and restore it.
    pristine = await netState(gw);
    pristineSysctl = await sysctls(gw);
    files = await ServiceFiles.create(lab.id, {
      egress: { interface: 'eth0' },
      gateway: { enabled: true, interfaces: ['br0'], ipv6: 'refuse', dns: ADDR.server4 },
      devices: [{ mac: MAC.a, name: 'Living-room TV' }],
      upstreams: [{ name: 'dante', type: 'socks5', address: ADDR.server4, port: 1080 }],
      rules: [
        { id: 'devB-via-dante', match: { device: { mac: MAC.b } }, action: { type: 'upstream', upstream: 'dante' } },
        { id: 'devC-blocked', match: { device: { cidr: `${IP.c}/32` } }, action: { type: 'block' } },
      ],
    });
    svc = spawnService(lab, gw, files);
    await svc.waitReady(30_000);
    client = await ControlClient.connect({ socketPath: join(files.dir, 'control.sock'), clientName: 'gateway-test' });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    if (svc?.running) await svc.stop('SIGTERM', 10_000).catch(() => undefined);
    await lab.destroy();
    await peers?.dispose();
    await files?.remove();
  });

  const why = (extra?: unknown): string => `${extra === undefined ? '' : `${typeof extra === 'string' ? extra : JSON.stringify(extra, null, 1).slice(0, 3000)}\n`}--- switchyard log ---\n${svc?.tail(40) ?? '(none)'}`;
  const lines = async (): Promise<string[]> => (await readFile(accessLog, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  /** curl from `ns` to nginx; the access-log line it caused. */
  async function fetchFrom(ns: string, url = `http://${ADDR.offlink4}/`): Promise<{ code: number; line: string | undefined; out: string }> {
    const tag = `t${Date.now()}${Math.random().toString(36).slice(2, 6)}`;
    const r = await execIn(ns, 'curl', ['-sS', '-m', '8', '-o', '/dev/null', '-w', '%{http_code}', `${url}?${tag}`], { allowFail: true, timeoutMs: 15_000 });
    await sleep(100);
    return { code: r.code, out: r.stdout + r.stderr, line: (await lines()).find((l) => l.includes(tag)) };
  }

  it('turns forwarding on in the gateway namespace only while it runs', async () => {
    expect(pristineSysctl).toBe('0 0');
    expect(await sysctls(gw)).toBe('1 1');
  });

  it('device A goes direct: nginx sees the gateway\'s own address', async () => {
    const r = await fetchFrom(dev.a);
    expect(r.code, why(r)).toBe(0);
    expect(r.line, why(r)).toMatch(/^remote=192\.0\.2\.1 /);
  });

  it('device B (by MAC) goes through the SOCKS5 upstream: nginx sees the proxy', async () => {
    const r = await fetchFrom(dev.b);
    expect(r.code, why(r)).toBe(0);
    expect(r.line, why(r)).toMatch(/^remote=192\.0\.2\.2 /);
  });

  it('device C is blocked: its connection is reset at once', async () => {
    const t0 = Date.now();
    const r = await fetchFrom(dev.c);
    expect(r.code, why(r)).not.toBe(0);
    // curl's exit 7: the connection was refused (our reset), not timed out (28).
    expect(r.code, why(r)).toBe(7);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.line).toBeUndefined();
  });

  it('the gateway\'s own traffic is unaffected', async () => {
    const r = await fetchFrom(gw);
    expect(r.code, why(r)).toBe(0);
    expect(r.line, why(r)).toMatch(/^remote=192\.0\.2\.1 /);
  });

  it('IPv6 from a LAN device is refused in a way it notices (reset), never forwarded around the engine', async () => {
    const t0 = Date.now();
    const r = await execIn(dev.a, 'curl', ['-sS', '-m', '5', '-o', '/dev/null', `http://[${ADDR.offlink6}]/`], { allowFail: true, timeoutMs: 10_000 });
    expect(r.code, why(r)).not.toBe(0);
    expect(Date.now() - t0, why(r)).toBeLessThan(3000);
    expect((await lines()).some((l) => l.includes('remote=2001:db8') || l.includes('remote=fd77'))).toBe(false);
  });

  it('DNS queries a device sends to the gateway are answered through the engine', async () => {
    const r = await execIn(dev.a, 'dig', ['+short', '+time=2', '+tries=1', '@10.77.0.1', 'www.switchyard.test', 'A'], { allowFail: true });
    expect(r.stdout.trim(), why(r)).toBe(ADDR.offlink4);
    // The query went through the engine as device A's flow to the resolver.
    const s = (await client!.api.sessionsList({ filter: { protocol: 'udp' }, limit: 100 })).sessions.find((x) => x.dstPort === 53 && x.device.address === IP.a);
    expect(s, why()).toBeDefined();
  });

  it('devices are listed with their MAC and the user\'s name; per-device counters equal the bytes transferred', async () => {
    // 200 KiB download from device A; its device counters grow by at least that, not by 10× that.
    const before = (await client!.api.devicesList()).devices.find((d) => d.mac === MAC.a)?.bytesIn ?? 0;
    const r = await execIn(dev.a, 'curl', ['-sS', '-m', '8', '-o', '/dev/null', '-w', '%{size_download}', `http://${ADDR.offlink4}/200k.bin`], { allowFail: true });
    expect(r.stdout.trim(), why(r)).toBe(String(200 * 1024));
    await sleep(2200); // two stats ticks
    const list = (await client!.api.devicesList()).devices;
    const a = list.find((d) => d.mac === MAC.a);
    expect(a, why(list)).toBeDefined();
    expect(a!.name).toBe('Living-room TV');
    const grew = a!.bytesIn - before;
    expect(grew, why(a)).toBeGreaterThanOrEqual(200 * 1024);
    expect(grew, why(a)).toBeLessThan(200 * 1024 * 1.2);
    const cli = await runCli(gw, ['devices', '--config', files.configPath]);
    expect(cli.stdout, why(cli)).toContain('Living-room TV');
  });

  it('device B keeps its rule after its address changes (same MAC)', async () => {
    // Like a new DHCP lease: the old address gone (with the routes through it), a new one, the default route again.
    await execIn(dev.b, 'ip', ['addr', 'del', `${IP.b}/24`, 'dev', 'eth0']);
    await execIn(dev.b, 'ip', ['addr', 'add', '10.77.0.21/24', 'dev', 'eth0']);
    await execIn(dev.b, 'ip', ['route', 'replace', 'default', 'via', '10.77.0.1', 'dev', 'eth0']);
    const r = await fetchFrom(dev.b);
    expect(r.code, why(r)).toBe(0);
    expect(r.line, why(r)).toMatch(/^remote=192\.0\.2\.2 /);
    const s = (await client!.api.sessionsList({ limit: 1000 })).sessions.filter((x: Session) => x.device.address === '10.77.0.21');
    expect(s.length, why(s)).toBeGreaterThan(0);
    expect(s[0]!.device.mac).toBe(MAC.b);
  });

  it('gateway off through the API: devices are no longer routed, the gateway still is; on again works', async () => {
    const off = await client!.api.gatewaySet({ enabled: false });
    expect(off.enabled).toBe(false);
    expect(await sysctls(gw)).toBe('0 0');
    const r = await fetchFrom(dev.a);
    expect(r.code, why(r)).not.toBe(0);
    expect((await fetchFrom(gw)).code).toBe(0);
    expect(await files.configText()).toMatch(/gateway:[^\n]*\n?[^\n]*enabled: false|enabled: false/);
    await client!.api.gatewaySet({ enabled: true });
    expect((await fetchFrom(dev.a)).code).toBe(0);
  });

  it('everything is restored after a stop, and after kill -9 + cleanup', async () => {
    await svc!.stop('SIGTERM');
    expect(await netState(gw)).toBe(pristine);
    expect(await sysctls(gw)).toBe(pristineSysctl);
    expect((await execIn(gw, 'nft', ['list', 'tables'])).stdout).not.toMatch(/switchyard/);
    svc = spawnService(lab, gw, files);
    await svc.waitReady(30_000);
    expect(await sysctls(gw)).toBe('1 1');
    expect((await execIn(gw, 'nft', ['list', 'tables'])).stdout).toMatch(/switchyard_gw/);
    await svc.kill9();
    const c = await runCli(gw, ['cleanup', '--config', files.configPath]);
    expect(c.code, c.stdout + c.stderr).toBe(0);
    expect(c.stdout + c.stderr).toMatch(/restored net\.ipv4\.ip_forward = 0/);
    expect(await netState(gw)).toBe(pristine);
    expect(await sysctls(gw)).toBe(pristineSysctl);
    expect((await execIn(gw, 'nft', ['list', 'tables'])).stdout).not.toMatch(/switchyard/);
  });
});

function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

async function sysctls(ns: string): Promise<string> {
  const r = await execIn(ns, 'sysctl', ['-n', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']);
  return r.stdout.trim().split('\n').join(' ');
}

async function startNginx(peers: PeerSet, accessLog: string): Promise<void> {
  const dir = peers.dir, www = join(dir, 'www-gw');
  await execIn(peers.ns, 'mkdir', ['-p', www, join(dir, 'ntmp')]);
  await writeFile(join(www, 'index.html'), 'hello\n');
  await writeFile(join(www, '200k.bin'), Buffer.alloc(200 * 1024, 9));
  const conf = `user root;
worker_processes 1;
pid ${dir}/nginx-gw.pid;
error_log ${dir}/nginx-gw-error.log warn;
events { worker_connections 1024; }
http {
  log_format who 'remote=$remote_addr uri=$request_uri';
  access_log ${accessLog} who;
  client_body_temp_path ${dir}/ntmp; proxy_temp_path ${dir}/ntmp; fastcgi_temp_path ${dir}/ntmp; uwsgi_temp_path ${dir}/ntmp; scgi_temp_path ${dir}/ntmp;
  server {
    listen 80 default_server;
    listen [::]:80 default_server;
    root ${www};
    location / { try_files $uri /index.html; }
  }
}
`;
  await writeFile(join(dir, 'nginx-gw.conf'), conf);
  await peers.run('nginx', '/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx-gw.conf'), '-e', join(dir, 'nginx-gw-error.log'), '-g', 'daemon off;'], { proto: 'tcp', port: 80 });
}
