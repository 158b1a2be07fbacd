// Issue 4, end to end: rules decide per flow between direct, an upstream proxy and block, with real
// programs and real proxies from Debian in network namespaces. Where a flow went is proven by the
// peers' own records, not only by its arrival: nginx logs the client address it saw (192.0.2.1 =
// direct from the client; the server's own address = through a proxy running there) and the TLS
// name; dante, microsocks and tinyproxy log what they were asked to connect to.
//
//   client ns: switchyard (TUN sy0), curl, python3, dig
//        │ 192.0.2.1 ── veth ── 192.0.2.2
//   server ns: nginx :80 + TLS :443/:8443 (access log), dnsmasq, dante :1080 (SOCKS5 + UDP; logs targets), microsocks :1081,
//              tinyproxy :8888 (HTTP CONNECT), a UDP "who-sent" echo :7100, TCP echo :7007 (kit)
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Lab, execIn } from '../support/netns.js';
import { standardTopology, ADDR, type StandardTopology } from '../support/topology.js';
import { PeerSet, KIT_PORTS } from '../support/peers.js';
import { ServiceFiles, ServiceProcess, spawnService, runCli } from '../support/service.js';
import { ControlClient } from '../../app/control/client.js';
import { isProtocolError, type Session } from '../../app/protocol/index.js';

const SECURE = 'secure.switchyard.test';
const WWW = 'www.switchyard.test';
const UDP_WHO = 7100;
const BLOCKED_TCP = 7777;
const BLOCKED_UDP = 7778;

describe('rules, upstreams and domains through the running service', () => {
  const lab = new Lab('syrul');
  let topo: StandardTopology;
  let peers: PeerSet;
  let files: ServiceFiles;
  let svc: ServiceProcess;
  let client: ControlClient;
  let nginxLog: string;
  let tinyLog: string;
  let danteLog: string;

  beforeAll(async () => {
    topo = await standardTopology(lab);
    peers = await PeerSet.create(lab, topo.server);
    // The proxies run in the server namespace and resolve names there.
    await lab.etcFile(topo.server, 'hosts', `127.0.0.1 localhost\n${ADDR.offlink4} ${SECURE} ${WWW}\n`);
    await peers.kit([ADDR.server4, ADDR.offlink4]);
    await peers.dnsmasq([ADDR.server4]);
    nginxLog = join(peers.dir, 'access.log');
    await startNginxTls(peers, nginxLog);
    danteLog = join(peers.dir, 'dante.log');
    await peers.dante(ADDR.server4, 1080, { logFile: danteLog });
    await peers.run('microsocks', '/usr/bin/microsocks', ['-i', ADDR.server4, '-p', '1081'], { proto: 'tcp', port: 1081 });
    tinyLog = join(peers.dir, 'tinyproxy.log');
    await startTinyproxy(peers, tinyLog);
    await peers.run('udp-who', process.execPath, ['-e', UDP_WHO_SERVER, String(UDP_WHO), ADDR.offlink4], { proto: 'udp', port: UDP_WHO });

    files = await ServiceFiles.create(lab.id, {
      upstreams: [
        { name: 'dante', type: 'socks5', address: ADDR.server4, port: 1080, health: { intervalMs: 1000, timeoutMs: 1000 } },
        { name: 'micro', type: 'socks5', address: ADDR.server4, port: 1081, health: { intervalMs: 1000, timeoutMs: 1000 } },
        { name: 'tiny', type: 'http', address: ADDR.server4, port: 8888, health: { intervalMs: 1000, timeoutMs: 1000 } },
        { name: 'dead-open', type: 'socks5', address: ADDR.server4, port: 1999, health: { intervalMs: 1000, timeoutMs: 500 } },
        { name: 'dead-closed', type: 'socks5', address: ADDR.server4, port: 1998, health: { intervalMs: 1000, timeoutMs: 500 } },
      ],
      rules: [
        { id: 'curl-via-dante', match: { all: [{ app: { name: 'curl' } }, { port: 80 }, { cidr: `${ADDR.offlink4}/32` }] }, action: { type: 'upstream', upstream: 'dante' } },
        { id: 'secure-via-dante', match: { domain: { suffix: [SECURE, 'only-here.test'] } }, action: { type: 'upstream', upstream: 'dante' } },
        { id: 'tiny-8443', match: { port: 8443 }, action: { type: 'upstream', upstream: 'tiny' } },
        { id: 'block-tcp', match: { all: [{ protocol: 'tcp' }, { port: BLOCKED_TCP }] }, action: { type: 'block' } },
        { id: 'block-udp', match: { all: [{ protocol: 'udp' }, { port: BLOCKED_UDP }] }, action: { type: 'block' } },
        { id: 'udp-via-dante', match: { all: [{ protocol: 'udp' }, { port: UDP_WHO }] }, action: { type: 'upstream', upstream: 'dante' } },
        { id: 'down-open', match: { port: 7201 }, action: { type: 'upstream', upstream: 'dead-open', fallback: 'direct' } },
        { id: 'down-closed', match: { port: 7202 }, action: { type: 'upstream', upstream: 'dead-closed', fallback: 'block' } },
        { id: 'slow-81', match: { port: 81 }, action: { type: 'direct' }, rateLimitBytesPerSec: 1048576 },
      ],
    });
    svc = spawnService(lab, topo.client, files);
    await svc.waitReady(30_000);
    client = await ControlClient.connect({ socketPath: join(files.dir, 'control.sock'), clientName: 'rules-test' });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    if (svc?.running) await svc.stop('SIGTERM', 10_000).catch(() => undefined);
    await lab.destroy();
    await peers?.dispose();
    await files?.remove();
  });

  const why = (extra?: unknown): string => `${extra === undefined ? '' : `${typeof extra === 'string' ? extra : JSON.stringify(extra, null, 1).slice(0, 4000)}\n`}--- switchyard log ---\n${svc?.tail(50) ?? '(none)'}`;
  const accessLines = async (): Promise<string[]> => (await readFile(nginxLog, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  const sessions = async (): Promise<Session[]> => (await client.api.sessionsList({ limit: 5000 })).sessions;
  /** Runs curl in the client namespace; the nginx access log line it caused (remote address, TLS name, host). */
  async function curlSeen(args: string[]): Promise<{ code: number; out: string; line: string | undefined }> {
    const before = (await accessLines()).length;
    const tag = `t${Date.now()}${Math.random().toString(36).slice(2, 6)}`;
    const r = await execIn(topo.client, 'curl', ['-sS', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', ...args.map((a) => a.replace('TAG', tag))], { allowFail: true, timeoutMs: 20_000 });
    await sleep(100);
    const line = (await accessLines()).slice(before).find((l) => l.includes(tag));
    return { code: r.code, out: r.stdout + r.stderr, line };
  }

  it('a rule by app sends curl through the SOCKS5 upstream while python3 to the same place goes direct', async () => {
    const viaCurl = await curlSeen([`http://${ADDR.offlink4}/?TAG`]);
    expect(viaCurl.code, why(viaCurl)).toBe(0);
    // nginx saw the proxy (the server's own address), not the client.
    expect(viaCurl.line, why(viaCurl)).toMatch(/^remote=(192\.0\.2\.2|198\.51\.100\.10) /);
    expect(await readFile(danteLog, 'utf8'), 'dante logged the connect').toMatch(/198\.51\.100\.10\.80/);

    const before = (await accessLines()).length;
    const py = await execIn(topo.client, 'python3', ['-c', `import urllib.request;print(urllib.request.urlopen("http://${ADDR.offlink4}/?python-direct", timeout=10).status)`], { allowFail: true });
    expect(py.stdout.trim(), why(py)).toBe('200');
    await sleep(100);
    const line = (await accessLines()).slice(before).find((l) => l.includes('python-direct'));
    expect(line, why(line)).toMatch(/^remote=192\.0\.2\.1 /);
  });

  it('sessions show the rule, the route and why', async () => {
    // A held TCP connection by curl through the upstream: telnet-like, stays open while we look.
    const r = await curlSeen([`http://${ADDR.offlink4}/?TAG`]);
    expect(r.code).toBe(0);
    const held = lab.spawn(topo.client, 'python3', ['-c', `import socket,time;s=socket.create_connection(("${ADDR.offlink4}",${KIT_PORTS.echo}));time.sleep(30)`]);
    try {
      let s: Session | undefined;
      for (let i = 0; i < 50 && !s; i++) {
        s = (await sessions()).find((x) => x.dstPort === KIT_PORTS.echo && x.state === 'established');
        if (!s) await sleep(100);
      }
      expect(s, why()).toBeDefined();
      // Its route is decided once its first bytes were waited for (a domain rule could have needed them).
      for (let i = 0; i < 30 && !s!.route; i++) { await sleep(50); s = (await sessions()).find((x) => x.id === s!.id); }
      expect(s!.route, why(s)).toMatchObject({ kind: 'direct', ruleId: null, reason: ['no rule matched'] });
      const explained = await client.api.rulesExplain({ sessionId: s!.id });
      expect(explained.route.kind).toBe('direct');
      expect(explained.rules.find((x) => x.id === 'curl-via-dante')!.matched, why(explained)).toBe(false);
    } finally {
      held.kill('SIGKILL');
    }
  });

  it('a domain rule hits by TLS SNI without any DNS query, and the upstream gets the name, not the address', async () => {
    // dante logs the address it resolved, so what it was asked is read off the wire: a capture of
    // the SOCKS5 requests arriving at the server.
    const cap = await capture(topo.server, ['-i', 'eth0', 'tcp', 'dst', 'port', '1080']);
    const dns = await capture(topo.client, ['-i', 'any', 'udp', 'port', '53']);
    const r = await curlSeen(['-k', '--resolve', `${SECURE}:443:${ADDR.offlink4}`, `https://${SECURE}/?TAG`]);
    const seen = await cap.stop();
    const queries = await dns.stop();
    expect(r.code, why(r)).toBe(0);
    expect(r.line, why(r)).toMatch(new RegExp(`^remote=(192\\.0\\.2\\.2|198\\.51\\.100\\.10) sni=${SECURE.replaceAll('.', '\\.')} `));
    expect(seen, 'the SOCKS5 request carried the name').toContain(SECURE);
    expect(queries, 'no DNS query was made').not.toMatch(/secure/);
    const s = (await sessions()).filter((x) => x.domain === SECURE);
    // The session may have ended; the explain API answers for a described flow too.
    const e = await client.api.rulesExplain({ flow: { protocol: 'tcp', dst: ADDR.offlink4, dstPort: 443, domain: SECURE } });
    expect(e.route).toMatchObject({ kind: 'upstream', upstream: 'dante', ruleId: 'secure-via-dante' });
    if (s.length) expect(s[0]!.domainSource).toBe('sni');
  });

  it('a name only this side knows (curl --resolve) still goes through the proxy: by address when the proxy cannot resolve it', async () => {
    const r = await curlSeen(['-k', '--resolve', `only-here.test:443:${ADDR.offlink4}`, 'https://only-here.test/?TAG']);
    expect(r.code, why(r)).toBe(0);
    expect(r.line, why(r)).toMatch(/^remote=(192\.0\.2\.2|198\.51\.100\.10) sni=only-here\.test /);
  });

  it('the HTTP CONNECT upstream gets the name learned from a DNS answer that passed through', async () => {
    const dig = await execIn(topo.client, 'dig', ['+short', '+time=2', '+tries=1', `@${ADDR.server4}`, WWW, 'A'], { allowFail: true });
    expect(dig.stdout.trim(), why(dig)).toBe(ADDR.offlink4);
    // nginx :8443 is TLS; the rule by port sends it to tinyproxy, which must be asked for the name.
    const r = await curlSeen(['-k', '--resolve', `${WWW}:8443:${ADDR.offlink4}`, `https://${WWW}:8443/?TAG`]);
    expect(r.code, why(r)).toBe(0);
    expect(await readFile(tinyLog, 'utf8'), 'tinyproxy log').toMatch(new RegExp(`${WWW.replaceAll('.', '\\.')}`));
    expect(r.line, why(r)).not.toMatch(/^remote=192\.0\.2\.1 /);
  });

  it('a rule\'s rate limit paces its flows (1 MiB/s for a 3 MiB download)', async () => {
    const r = await execIn(topo.client, 'curl', ['-sS', '-m', '20', '-o', '/dev/null', '-w', '%{speed_download} %{size_download}', `http://${ADDR.offlink4}:81/three.bin`], { allowFail: true, timeoutMs: 30_000 });
    const [speed, size] = r.stdout.trim().split(' ').map(Number);
    expect(size, why(r)).toBe(3 * 1024 * 1024);
    // The bucket allows a quarter-second burst; the rest is paced: ~1 MiB/s on average.
    expect(speed!, why(r)).toBeGreaterThan(0.7 * 1048576);
    expect(speed!, why(r)).toBeLessThan(1.4 * 1048576);
  });

  it('DNS answers over TCP are read too: a flow to the address gets the name', async () => {
    const dig = await execIn(topo.client, 'dig', ['+tcp', '+short', '+time=2', '+tries=1', `@${ADDR.server4}`, 'server.switchyard.test', 'A'], { allowFail: true });
    expect(dig.stdout.trim(), why(dig)).toBe(ADDR.server4);
    const held = lab.spawn(topo.client, 'python3', ['-c', `import socket,time;s=socket.create_connection(("${ADDR.server4}",${KIT_PORTS.echo}));time.sleep(20)`]);
    try {
      let s: Session | undefined;
      for (let i = 0; i < 50 && !s?.route; i++) {
        s = (await sessions()).find((x) => x.dst === ADDR.server4 && x.dstPort === KIT_PORTS.echo);
        if (!s?.route) await sleep(100);
      }
      expect(s, why()).toBeDefined();
      expect([s!.domain, s!.domainSource], why(s)).toEqual(['server.switchyard.test', 'dns']);
    } finally {
      held.kill('SIGKILL');
    }
  });

  it('block resets a TCP connection at once and makes a connected UDP send fail quickly', async () => {
    const t0 = Date.now();
    const tcp = await execIn(topo.client, 'python3', ['-c', `
import socket,sys
try:
  socket.create_connection(("${ADDR.offlink4}",${BLOCKED_TCP}),timeout=5); print("connected")
except ConnectionRefusedError: print("refused")
except Exception as e: print("other", type(e).__name__, e)`], { allowFail: true });
    expect(tcp.stdout.trim(), why(tcp)).toBe('refused');
    expect(Date.now() - t0).toBeLessThan(3000);
    const t1 = Date.now();
    const udp = await execIn(topo.client, 'python3', ['-c', `
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3); s.connect(("${ADDR.offlink4}",${BLOCKED_UDP}))
try:
  s.send(b"x"); s.recv(100); print("answered")
except socket.timeout: print("timeout")
except OSError as e: print("error", e.errno)`], { allowFail: true });
    expect(udp.stdout.trim(), why(udp)).toMatch(/^error \d+$/);
    expect(Date.now() - t1).toBeLessThan(2000);
    // The service counted what it blocked.
    const st = await client.api.status();
    expect(st.counts.drops.blocked, why(st.counts.drops)).toBeGreaterThanOrEqual(2);
  });

  it('UDP goes through dante with UDP ASSOCIATE (the echo sees the proxy as its sender)', async () => {
    const r = await execIn(topo.client, 'python3', ['-c', `
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(5)
for i in range(3):
  s.sendto(b"hi",("${ADDR.offlink4}",${UDP_WHO}))
  try:
    print(s.recvfrom(200)[0].decode()); break
  except socket.timeout: pass`], { allowFail: true });
    const from = r.stdout.trim().split(' ')[1] ?? '';
    expect(from, why(r)).not.toBe('');
    expect(from.startsWith(`${ADDR.client4}:`), why(r)).toBe(false);
    const s = (await sessions()).find((x) => x.protocol === 'udp' && x.dstPort === UDP_WHO);
    expect(s?.route, why(s)).toMatchObject({ kind: 'upstream', upstream: 'dante', ruleId: 'udp-via-dante' });
  });

  it('an upstream that is down applies the rule\'s fallback: direct for one rule, block for the other', async () => {
    const list = await client.api.upstreamsList();
    expect(list.upstreams.find((u) => u.name === 'dead-open')?.state, why(list)).toBe('down');
    expect(list.upstreams.find((u) => u.name === 'dante')?.state, why(list)).toBe('up');
    // 7201: fallback direct — the kit does not listen there, so "refused" by the server itself proves it went out.
    const direct = await execIn(topo.client, 'python3', ['-c', `
import socket
try:
  socket.create_connection(("${ADDR.offlink4}",${KIT_PORTS.echo}),timeout=3).close()
except Exception as e: pass
try:
  socket.create_connection(("${ADDR.offlink4}",7201),timeout=3); print("connected")
except ConnectionRefusedError: print("refused")
except Exception as e: print("other", e)`], { allowFail: true });
    expect(direct.stdout.trim(), why(direct)).toBe('refused');
    const e1 = await client.api.rulesExplain({ flow: { protocol: 'tcp', dst: ADDR.offlink4, dstPort: 7201 } });
    expect(e1.route, why(e1)).toMatchObject({ kind: 'direct', upstream: 'dead-open', ruleId: 'down-open' });
    expect(e1.route.fallback, why(e1)).toMatch(/down/);
    const e2 = await client.api.rulesExplain({ flow: { protocol: 'tcp', dst: ADDR.offlink4, dstPort: 7202 } });
    expect(e2.route, why(e2)).toMatchObject({ kind: 'block', ruleId: 'down-closed' });
  });

  it('a proxy killed while in use: the next flows of its rule take the fallback (block by default)', async () => {
    // Add a rule for a new port through microsocks (fail-closed by default), prove it works, kill microsocks.
    await client.api.rulesAdd({ rule: { id: 'echo-micro', match: { port: KIT_PORTS.echo }, action: { type: 'upstream', upstream: 'micro' } }, index: 0 });
    const ok = await echoOnce(KIT_PORTS.echo);
    expect(ok, why(ok)).toBe('echo');
    const pid = peers.pid('microsocks')!;
    process.kill(-pid, 'SIGKILL');
    await sleep(200);
    const after = await echoOnce(KIT_PORTS.echo);
    expect(after, why(after)).not.toBe('echo');
    let state = '';
    for (let i = 0; i < 30 && state !== 'down'; i++) {
      state = (await client.api.upstreamsList()).upstreams.find((u) => u.name === 'micro')!.state;
      if (state !== 'down') await sleep(100);
    }
    expect(state).toBe('down');
    await client.api.rulesRemove({ id: 'echo-micro' });
  });

  it('a rule edited through the API changes where the next connection goes, and a dry run named the live session first', async () => {
    const held = lab.spawn(topo.client, 'python3', ['-c', `import socket,time;s=socket.create_connection(("${ADDR.offlink4}",${KIT_PORTS.halfClose}));time.sleep(30)`]);
    try {
      let live: Session | undefined;
      for (let i = 0; i < 50 && !live; i++) {
        live = (await sessions()).find((x) => x.dstPort === KIT_PORTS.halfClose && x.state === 'established');
        if (!live) await sleep(100);
      }
      expect(live, why()).toBeDefined();
      const rule = { id: 'no-7001', match: { port: KIT_PORTS.halfClose }, action: { type: 'block' as const } };
      const dry = await client.api.rulesDryRun({ change: { op: 'add', rule, index: 0 } });
      expect(dry.moved.map((m) => m.id), why(dry)).toContain(live!.id);
      expect(dry.moved.find((m) => m.id === live!.id)!.to.kind).toBe('block');
      const before = await files.configText();
      const added = await client.api.rulesAdd({ rule, index: 0, applyToLive: true });
      expect(added.moved.map((m) => m.id)).toContain(live!.id);
      expect(added.rules[0]!.id).toBe('no-7001');
      // Saved: the config file now holds the rule, and the rest of the file is intact.
      const after = await files.configText();
      expect(after).not.toBe(before);
      expect(after).toContain('no-7001');
      expect(after).toContain('curl-via-dante');
      // The held session was closed; a new connection is refused.
      await sleep(200);
      expect((await sessions()).find((x) => x.id === live!.id && x.state !== 'closed'), why()).toBeUndefined();
      const next = await echoOnce(KIT_PORTS.halfClose);
      expect(next, why(next)).toBe('refused');
      // Through the CLI: list shows it; remove it; the next connection goes through again.
      const listed = await runCli(topo.client, ['rules', 'list', '--config', files.configPath]);
      expect(listed.stdout, why(listed)).toContain('no-7001');
      await client.api.rulesRemove({ id: 'no-7001' });
      expect(await echoOnce(KIT_PORTS.halfClose, 'hello\n', true)).toBe('answered');
    } finally {
      held.kill('SIGKILL');
    }
  });

  it('invalid rules and upstreams are refused with the field named, and the config on disk is unchanged', async () => {
    const before = await files.configText();
    const bad = await client.api.rulesAdd({ rule: { id: 'bad one', match: { port: 99999 }, action: { type: 'upstream', upstream: 'nope' } } }).catch((e: unknown) => e);
    expect(isProtocolError(bad, 'INVALID_RULE'), String(bad)).toBe(true);
    const errors = ((bad as { details: { errors: string[] } }).details.errors).join('\n');
    expect(errors).toMatch(/rules\[\d+\]\.id: "bad one"/);
    expect(errors).toMatch(/rules\[\d+\]\.match\.port: 99999/);
    const dup = await client.api.rulesAdd({ rule: { id: 'block-tcp', match: { port: 1 }, action: { type: 'direct' } } }).catch((e: unknown) => e);
    expect(isProtocolError(dup, 'RULE_EXISTS')).toBe(true);
    const missing = await client.api.rulesRemove({ id: 'no-such-rule' }).catch((e: unknown) => e);
    expect(isProtocolError(missing, 'RULE_NOT_FOUND')).toBe(true);
    expect(await files.configText()).toBe(before);
    // A config with a bad upstream: the service refuses to start and names the field.
    const badFiles = await ServiceFiles.create(`${lab.id}b`, { upstreams: [{ name: 'x', type: 'socks6', address: 'no host!', port: 70000 }] });
    try {
      const text = await badFiles.configText();
      const r = await runCli(topo.client, ['config', 'check', '--config', badFiles.configPath]);
      expect(r.code).not.toBe(0);
      expect(r.stderr + r.stdout).toMatch(/upstreams\[0\]\.type/);
      expect(r.stderr + r.stdout).toMatch(/upstreams\[0\]\.address: "no host!"/);
      expect(r.stderr + r.stdout).toMatch(/upstreams\[0\]\.port: 70000/);
      expect(await badFiles.configText()).toBe(text);
    } finally {
      await badFiles.remove();
    }
  });

  /** tcpdump in `ns` (ASCII payloads) until stop(); resolves once it listens. */
  async function capture(ns: string, filter: string[]): Promise<{ stop(): Promise<string> }> {
    const child = lab.spawn(ns, 'tcpdump', ['-l', '-n', '-A', '-s', '0', '-U', ...filter]);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('tcpdump did not start')), 5000);
      child.stderr?.on('data', (d: Buffer) => { if (d.toString().includes('listening on')) { clearTimeout(t); resolve(); } });
    });
    return {
      async stop() {
        await sleep(200);
        child.kill('SIGINT');
        await new Promise((r) => child.once('exit', r));
        return out;
      },
    };
  }

  /** One TCP exchange from the client: 'echo' (sent and got it back), 'answered', 'refused', 'reset', 'timeout' or the error. */
  async function echoOnce(port: number, payload = 'echo', anyAnswer = false): Promise<string> {
    const r = await execIn(topo.client, 'python3', ['-c', `
import socket
try:
  s=socket.create_connection(("${ADDR.offlink4}",${port}),timeout=3); s.sendall(${JSON.stringify(payload)}.encode())
  ${anyAnswer ? 's.shutdown(socket.SHUT_WR); ' : ''}d=s.recv(100); print(${anyAnswer ? '"answered" if d else "empty"' : 'd.decode() if d else "empty"'})
except ConnectionRefusedError: print("refused")
except ConnectionResetError: print("reset")
except socket.timeout: print("timeout")
except Exception as e: print("other", type(e).__name__, e)`], { allowFail: true, timeoutMs: 15_000 });
    return r.stdout.trim();
  }
});

function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

/** UDP server answering each datagram with "from <addr>:<port>" (who it came from). */
const UDP_WHO_SERVER = `
const dgram = require('node:dgram');
const [port, host] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => s.send('from ' + r.address + ':' + r.port, r.port, r.address));
s.bind(Number(port), host);`;

async function startNginxTls(peers: PeerSet, accessLog: string): Promise<void> {
  const dir = peers.dir;
  const key = join(dir, 'tls.key'), crt = join(dir, 'tls.crt');
  await execIn(peers.ns, 'openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-batch', '-keyout', key, '-out', crt, '-days', '2',
    '-subj', `/CN=${SECURE}`, '-addext', `subjectAltName=DNS:${SECURE},DNS:${WWW}`]);
  const www = join(dir, 'www-tls');
  await execIn(peers.ns, 'mkdir', ['-p', www, join(dir, 'ntmp')]);
  await writeFile(join(www, 'index.html'), 'hello\n');
  await writeFile(join(www, 'three.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
  const conf = `user root;
worker_processes 1;
pid ${dir}/nginx-tls.pid;
error_log ${dir}/nginx-tls-error.log warn;
events { worker_connections 1024; }
http {
  log_format who 'remote=$remote_addr sni=$ssl_server_name host=$host uri=$request_uri';
  access_log ${accessLog} who;
  client_body_temp_path ${dir}/ntmp; proxy_temp_path ${dir}/ntmp; fastcgi_temp_path ${dir}/ntmp; uwsgi_temp_path ${dir}/ntmp; scgi_temp_path ${dir}/ntmp;
  server {
    listen 80 default_server;
    listen 443 ssl default_server;
    listen 8443 ssl;
    listen 81;
    ssl_certificate ${crt};
    ssl_certificate_key ${key};
    root ${www};
    location / { try_files $uri /index.html; }
  }
}
`;
  const confPath = join(dir, 'nginx-tls.conf');
  await writeFile(confPath, conf);
  await peers.run('nginx-tls', '/usr/sbin/nginx', ['-p', dir, '-c', confPath, '-e', join(dir, 'nginx-tls-error.log'), '-g', 'daemon off;'], { proto: 'tcp', port: 443 });
}

async function startTinyproxy(peers: PeerSet, logFile: string): Promise<void> {
  const conf = `Port 8888
Listen ${ADDR.server4}
Timeout 30
LogFile "${logFile}"
LogLevel Connect
MaxClients 50
Allow ${ADDR.client4}
ConnectPort 443
ConnectPort 8443
`;
  const confPath = join(peers.dir, 'tinyproxy.conf');
  await writeFile(confPath, conf);
  await peers.run('tinyproxy', '/usr/bin/tinyproxy', ['-d', '-c', confPath], { proto: 'tcp', port: 8888 });
}
