// Issue 2 — TCP through the Switchyard TUN, for real: the service runs in the client namespace with the
// default routes (v4 + v6) in its TUN; curl, nginx and the kit's Node peers are the endpoints. Every
// scenario runs twice: first over plain kernel routing (no service: proves the lab and the check
// itself), then through the service, so a failure in the second block is the engine's.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFile, rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startTrafficLab, ENGINE_MODES, type ServiceConfig, type TrafficLab } from '../support/service.js';
import { curl, urlHost, sha256, writeRandomFile, KIT_PORTS, SERVER_FIRST_BYTES, type KitEvent } from '../support/peers.js';
import { ADDR } from '../support/topology.js';

const TARGETS = [
  { name: 'IPv4 on-link', addr: ADDR.server4 },
  { name: 'IPv4 off-link', addr: ADDR.offlink4 },
  { name: 'IPv6 on-link', addr: ADDR.server6 },
  { name: 'IPv6 off-link', addr: ADDR.offlink6 },
];

const RUNS = [{ mode: 'kernel' as const, label: 'over plain kernel routing (lab baseline, no service)', service: undefined, expectLog: undefined },
  ...ENGINE_MODES.map((m) => ({ mode: 'switchyard' as const, label: `through the switchyard TUN (${m.name})`, service: m.service as ServiceConfig, expectLog: m.expect as RegExp }))];

for (const { mode, label, service, expectLog } of RUNS) {
  describe(`TCP ${label}`, () => {
    let t: TrafficLab;
    beforeAll(async () => { t = await startTrafficLab(mode, { nginx: true, tag: 'sytcp', ...(service ? { service } : {}) }); }, 90_000);

    it.runIf(mode === 'switchyard')('runs in the mode under test', () => {
      expect(t.svc!.log, t.why()).toMatch(expectLog!);
    });
    afterAll(async () => { await t?.dispose(); });

    it.each(TARGETS)('downloads the 64 MiB file intact over $name', async ({ addr }) => {
      const out = join(t.peers.dir, `download-${mode}-${addr.replace(/[:.]/g, '_')}.bin`);
      try {
        const r = await curl(t.topo.client, ['--max-time', '100', '-o', out, '-w', '%{http_code} %{size_download}', `http://${urlHost(addr)}${t.nginx!.big.path}`]);
        expect(r.code, t.why(r)).toBe(0);
        expect(r.stdout, t.why(r)).toBe(`200 ${t.nginx!.big.size}`);
        expect(sha256(await readFile(out)), t.why('sha256 of the downloaded file')).toBe(t.nginx!.big.sha256);
      } finally { await rm(out, { force: true }); }
    }, 120_000);

    it.each([TARGETS[1]!, TARGETS[3]!])('uploads 16 MiB intact over $name (the server hashes what it received)', async ({ addr }) => {
      const file = join(t.peers.dir, `upload-${mode}.bin`);
      const { size, sha256: expected } = await writeRandomFile(file, 16 * 1024 * 1024);
      try {
        const r = await curl(t.topo.client, ['--max-time', '60', '-H', 'Expect:', '-T', file, `http://${urlHost(addr)}:${KIT_PORTS.upload}/upload`]);
        expect(r.code, t.why(r)).toBe(0);
        expect(r.stdout.trim(), t.why(r)).toBe(`${expected} ${size}`);
      } finally { await rm(file, { force: true }); }
    }, 90_000);

    it('completes 300 parallel HTTP fetches of distinct files, each with the right content', async () => {
      const files = t.nginx!.small.slice(0, 300);
      const dir = join(t.peers.dir, `parallel-${mode}`);
      await mkdir(dir, { recursive: true });
      try {
        const args = ['--parallel', '--parallel-immediate', '--parallel-max', '300', '--max-time', '60', '-w', '%{http_code}\\n'];
        files.forEach((f, i) => args.push('-o', join(dir, `${i}.bin`), `http://${urlHost(i % 2 ? ADDR.offlink6 : ADDR.offlink4)}${f.path}`));
        const r = await curl(t.topo.client, args, 90_000);
        expect(r.code, t.why(r.stderr)).toBe(0);
        const bad: string[] = [];
        for (const [i, f] of files.entries()) {
          const got = await readFile(join(dir, `${i}.bin`)).catch(() => null);
          if (!got || sha256(got) !== f.sha256) bad.push(`${f.path}: ${got ? `${got.length} bytes, wrong hash` : 'missing'}`);
        }
        expect(bad, t.why(`${bad.length} of 300 wrong`)).toEqual([]);
      } finally { await rm(dir, { recursive: true, force: true }); }
    }, 120_000);

    it.each([{ name: 'IPv4', addr: ADDR.offlink4, n: 300 }, { name: 'IPv6', addr: ADDR.offlink6, n: 100 }])(
      'holds $n connections open at once over $name, then each exchanges its own data correctly', async ({ addr, n }) => {
        const r = await t.peers.client<{ connected: number; ok: number; failures: unknown[] }>(t.topo.client, ['hold-parallel', addr, KIT_PORTS.halfClose, n, 4096], 90_000);
        expect(r.connected, t.why(r)).toBe(n);
        expect(r.ok, t.why(r)).toBe(n);
      }, 100_000);

    it.each([
      { name: 'IPv4 on-link', addr: ADDR.server4 },
      { name: 'IPv4 off-link', addr: ADDR.offlink4 },
      { name: 'IPv6 on-link', addr: ADDR.server6 },
      { name: 'IPv6 off-link', addr: ADDR.offlink6 },
    ])('reports a closed port over $name as refused within 1 s (curl exit 7), never as connected-then-reset', async ({ addr }) => {
      const port = await t.peers.refusedPort();
      // -v: curl 7.88 names the errno only in its verbose lines ("connect to … failed: Connection refused").
      const r = await curl(t.topo.client, ['-v', '--max-time', '10', `http://${urlHost(addr)}:${port}/`]);
      expect(r.code, t.why(r)).toBe(7);
      expect(r.stderr, t.why(r)).toMatch(/failed: Connection refused/);
      expect(r.ms, t.why(r)).toBeLessThan(1000);
    });

    it('reports addresses with no host as a timeout or no-route, never as a connection', async () => {
      const addrs = [ADDR.noHostOnlink4, ADDR.noHostOfflink4, ADDR.noHostOnlink6, ADDR.noHostOfflink6];
      const results = await Promise.all(addrs.map((a) => curl(t.topo.client, ['-v', '--connect-timeout', '3', '--max-time', '8', `http://${urlHost(a)}/`]).then((r) => ({ addr: a, ...r }))));
      for (const r of results) {
        const ok = r.code === 28 || (r.code === 7 && /failed: (No route to host|Network is unreachable)/.test(r.stderr));
        expect(ok, t.why({ expected: 'exit 28, or 7 with No route', ...r })).toBe(true);
      }
    }, 30_000);

    it.each([{ name: 'IPv4', addr: ADDR.offlink4 }, { name: 'IPv6', addr: ADDR.offlink6 }])(
      'half-close over $name: the client shuts down its write side and still receives the answer', async ({ addr }) => {
        const r = await t.peers.client<{ ok: boolean; sawFin: boolean }>(t.topo.client, ['halfclose-client-first', addr, KIT_PORTS.halfClose, 1 << 20]);
        expect(r.ok, t.why(r)).toBe(true);
        expect(r.sawFin, t.why(r)).toBe(true);
      });

    it.each([{ name: 'IPv4', addr: ADDR.offlink4 }, { name: 'IPv6', addr: ADDR.offlink6 }])(
      'half-close over $name: the server closes its side first and still receives what the client sends after', async ({ addr }) => {
        const r = await t.peers.client<{ ok: boolean; receivedBytes: number; sentSha256: string; sentBytes: number }>(t.topo.client, ['halfclose-server-first', addr, KIT_PORTS.serverFirst, 300_000]);
        expect(r.ok, t.why(r)).toBe(true);
        expect(r.receivedBytes, t.why(r)).toBe(SERVER_FIRST_BYTES);
        const ev = await t.peers.waitEvent((e) => e.event === 'server-first-received' && e.sha256 === r.sentSha256, 10_000, `server received ${r.sentSha256}`)
          .catch((e: Error) => { throw new Error(`${e.message}\n${t.why(r)}`); });
        expect(ev.bytes, t.why(ev)).toBe(r.sentBytes);
      });

    it.each([{ name: 'IPv4', addr: ADDR.offlink4 }, { name: 'IPv6', addr: ADDR.offlink6 }])(
      'a reset from the server over $name reaches the client as a reset', async ({ addr }) => {
        const r = await t.peers.client<{ result: string }>(t.topo.client, ['reset-by-server', addr, KIT_PORTS.reset]);
        expect(r.result, t.why(r)).toBe('ECONNRESET');
      });

    it.each([{ name: 'IPv4', addr: ADDR.offlink4 }, { name: 'IPv6', addr: ADDR.offlink6 }])(
      'a reset from the client over $name reaches the server as a reset', async ({ addr }) => {
        const from = t.peers.events().length;
        const r = await t.peers.client<{ done: boolean }>(t.topo.client, ['reset-by-client', addr, KIT_PORTS.observe]);
        expect(r.done, t.why(r)).toBe(true);
        const ev: KitEvent = await t.peers.waitEvent((e) => e.event === 'observe', 10_000, 'server saw the connection end', from)
          .catch((e: Error) => { throw new Error(`${e.message}\n${t.why(r)}`); });
        expect(ev.how, t.why(ev)).toBe('ECONNRESET');
        expect(ev.bytes, t.why(ev)).toBe('hello, I will reset'.length);
      });

    // Last: stops the service. With two queues the worker thread must have forwarded established
    // sessions' packets itself (not handed everything to the engine), lost none on the way to the
    // engine and failed no write — proof that the fast path carried the traffic above.
    it.runIf(mode === 'switchyard' && String(expectLog).includes('queues=2'))('the TUN queue worker forwarded established TCP itself, losing nothing (its counts at stop)', async () => {
      const r = await t.svc!.stop('SIGTERM', 10_000);
      expect(r.code, t.why()).toBe(0);
      const line = t.svc!.log.split('\n').find((l) => l.includes('engine stopped')) ?? '';
      const num = (k: string) => Number(new RegExp(`${k}=(\\d+)`).exec(line)?.[1] ?? NaN);
      expect(line, t.why()).toMatch(/packetPath="2 queues/);
      expect(num('workerForwarded'), t.why(line)).toBeGreaterThan(10_000);
      expect(num('workerHandedToEngine'), t.why(line)).toBeGreaterThan(0);
      expect(num('workerHandoffDrops'), t.why(line)).toBe(0);
      expect(num('workerWriteErrors'), t.why(line)).toBe(0);
    }, 30_000);
  });
}
