// LinuxTunDevice for real: a TUN in a fresh network namespace, driven by a child process
// (test/fixtures/tun-child.mjs, which imports the compiled dist/ — built in beforeAll with
// tsconfig.build.json) because the device must be opened inside the namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Lab, killTree, netState } from '../support/netns.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = fileURLToPath(new URL('../fixtures/tun-child.mjs', import.meta.url));
const opts = {
  name: 'sy0', mtu: 1420, addresses: ['198.18.0.1/30', 'fd00:5359::1/126'],
  self4: '198.18.0.1', peer4: '198.18.0.2', self6: 'fd00:5359::1', peer6: 'fd00:5359::2',
};
type Line = Record<string, any>;
const lines = (stdout: string): Line[] => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));

/** Compiles app/ and native/ to dist/ (type errors elsewhere do not stop the emit). */
function buildDist(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: root }, (err, stdout) => {
      if (existsSync(`${root}dist/native/tun/linux.js`) && existsSync(`${root}dist/native/route/linux.js`)) resolve();
      else reject(new Error(`build failed: ${err?.message}\n${stdout}`));
    });
  });
}

const lab = new Lab('syt');
let ns = '';
let before = '';

beforeAll(async () => {
  await buildDist();
  ns = await lab.addNs('tun');
  before = await netState(ns);
});
afterAll(async () => { await lab.destroy(); });

describe('LinuxTunDevice in a network namespace', () => {
  it('creates the device up, with the MTU and both addresses, and removes it when the process dies', async () => {
    const child = lab.spawn(ns, process.execPath, [fixture, 'hold', JSON.stringify(opts)]);
    const open = await new Promise<Line>((resolve, reject) => {
      let buf = '';
      child.stdout!.on('data', (d) => { buf += d; const l = lines(buf.slice(0, buf.lastIndexOf('\n') + 1)).find((x) => x.event === 'open'); if (l) resolve(l); });
      child.once('exit', (code) => reject(new Error(`child exited ${code} before opening the TUN`)));
    });
    expect(open).toMatchObject({ name: 'sy0', mtu: 1420 });
    const link = JSON.parse((await lab.exec(ns, 'ip', ['-json', 'addr', 'show', 'dev', 'sy0'])).stdout)[0];
    expect(link.mtu).toBe(1420);
    expect(link.flags).toContain('UP');
    // gso_max_size stays the legacy 64 KiB: a lower one makes the kernel segment forwarded
    // aggregates in software (LAN devices' uploads in gateway mode; app/README.md).
    const details = JSON.parse((await lab.exec(ns, 'ip', ['-d', '-json', 'link', 'show', 'dev', 'sy0'])).stdout)[0];
    expect(details.gso_max_size).toBe(65536);
    expect(link.link_type).toBe('none');
    const addrs = link.addr_info.map((a: Line) => `${a.local}/${a.prefixlen}`);
    expect(addrs).toEqual(expect.arrayContaining(['198.18.0.1/30', 'fd00:5359::1/126']));
    expect(link.addr_info.find((a: Line) => a.family === 'inet6' && a.local === 'fd00:5359::1').tentative).toBeUndefined();
    const exited = new Promise((r) => child.once('exit', r));
    killTree(child, 'SIGKILL');
    await exited;
    expect(await netState(ns)).toBe(before);
  });

  it.each([
    { offload: 'auto', headroom: 10, mode: 'csum+tso4+tso6' },
    { offload: 'off', headroom: 0, mode: 'none' },
  ])('offload $offload: delivers written packets to the kernel (echo replies come back), two writes in one tick give two, errors never throw, and the process exits by itself', async ({ offload, headroom, mode }) => {
    const r = await lab.exec(ns, process.execPath, [fixture, 'echo', JSON.stringify({ ...opts, offload })], { timeoutMs: 20_000 });
    const out = lines(r.stdout);
    expect(out.find((l) => l.event === 'open')).toMatchObject({ headroom, offload: mode });
    const echo = out.find((l) => l.event === 'echo')!;
    expect(echo.writes).toEqual([true, true, true, true]);
    expect(echo.replies).toEqual(expect.arrayContaining([
      { family: 4, id: 0x5359, seq: 1, src: '198.18.0.1' }, { family: 4, id: 0x5359, seq: 2, src: '198.18.0.1' },
      { family: 6, id: 0x5359, seq: 3 }, { family: 6, id: 0x5359, seq: 4 },
    ]));
    // Link down: the kernel refuses the write (EIO); write() returns false and counts it.
    const down = out.find((l) => l.event === 'down')!;
    expect(down.write).toBe(false);
    expect(down.stats.txErrors).toBe(1);
    // Link deleted under the open fd: reading stops with a report; later writes drop; close twice is fine.
    const closed = out.find((l) => l.event === 'closed')!;
    expect(closed.errored).toMatch(/went away/);
    expect(closed.afterDelete).toBe(false);
    expect(closed.afterClose).toBe(false);
    expect(r.code).toBe(0); // ended on its own: no pending read keeps the loop alive
    expect(await netState(ns)).toBe(before);
  });

  it('multi-queue: a queue worker starts on its own queue, packets written through either queue are answered and every reply reaches the engine (forwarded or handed off), and close stops it and removes the device', async () => {
    const r = await lab.exec(ns, process.execPath, [fixture, 'queues', JSON.stringify({ ...opts, queues: 2 })], { timeoutMs: 30_000 });
    const out = lines(r.stdout);
    expect(out.find((l) => l.event === 'open'), r.stderr).toMatchObject({ queues: 2 });
    const workers = out.find((l) => l.event === 'workers')!;
    expect(workers.active, r.stderr).toBe(1);
    expect(workers.detail).toMatch(/multi_queue/);
    expect(workers.detail).toMatch(/numqueues 2/);
    const echo = out.find((l) => l.event === 'echo')!;
    expect(echo.writes).toEqual(Array(40).fill(true));
    // No session is published: the worker forwards nothing itself and hands every reply to the engine.
    expect(echo.seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    // The replies to what went through queue 1 came back on queue 1: read by the worker, handed off.
    expect(echo.workerRead).toBeGreaterThanOrEqual(20);
    expect(echo.handedOff).toBe(echo.workerRead);
    expect(out.find((l) => l.event === 'closed')).toMatchObject({ active: 0 });
    expect(out.filter((l) => l.event === 'log'), r.stdout).toEqual([]);
    expect(r.code).toBe(0);
    expect(await netState(ns)).toBe(before);
  });

  it('multi-queue refused (a single-queue device of that name exists): one queue, said in the log, and the device works as before', async () => {
    await lab.exec(ns, 'ip', ['tuntap', 'add', 'dev', 'sy9', 'mode', 'tun']);
    try {
      const r = await lab.exec(ns, process.execPath, [fixture, 'open', JSON.stringify({ ...opts, name: 'sy9', queues: 2 })], { timeoutMs: 20_000 });
      const out = lines(r.stdout);
      expect(out.find((l) => l.event === 'log' && l.level === 'warn')?.m, r.stdout).toMatch(/multi-queue refused by the kernel; running one queue/);
      expect(out.find((l) => l.event === 'open'), r.stderr).toMatchObject({ name: 'sy9', queues: 1 });
      expect(r.code).toBe(0);
    } finally {
      await lab.exec(ns, 'ip', ['tuntap', 'del', 'dev', 'sy9', 'mode', 'tun']);
    }
    expect(await netState(ns)).toBe(before);
  });

  it('moves packets at a useful rate (logged; a sanity floor only)', async () => {
    const r = await lab.exec(ns, process.execPath, [fixture, 'bench', JSON.stringify({ ...opts, mtu: 1500, payload: 1400, ms: 1500 })], { timeoutMs: 20_000 });
    const bench = lines(r.stdout).find((l) => l.event === 'bench')!;
    console.log(`TUN echo round trips: ${bench.roundTripsPerSec}/s at ${bench.packetBytes} B (one write + one read each)`);
    expect(bench.roundTripsPerSec).toBeGreaterThan(5_000);
    expect(bench.stats.txErrors).toBe(0);
  });
});
