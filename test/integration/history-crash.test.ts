// History survives kill -9: a child Node process (the compiled dist/ module, as the service runs it)
// writes usage history as fast as it can, one transaction per tick; the test kills it with SIGKILL at
// random moments, mostly in the middle of a commit, many times over. Each restart must open the
// database as found (no recovery), find at least every tick it reported flushed, and continue. At
// the end every key holds exactly the same ticks (a transaction is all or nothing), minute buckets
// add up to hour buckets, and byte sums are exact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const DIST_HISTORY = join(REPO, 'dist', 'app', 'stats', 'history.js');
const KILLS = 30;
const APPS = 40, DEVICES = 10;
const BASE = Date.UTC(2026, 0, 1);
const STEP_MS = 20_000; // three ticks per minute: minutes and hours both fill up

// The writer: resumes from the number of ticks found in the database, then records tick n with
// bytesIn = n and packetsIn = 1 for every key, flushing after each tick and printing "flushed n".
const CHILD = `
import { UsageHistory } from ${JSON.stringify(pathToFileURL(DIST_HISTORY).href)};
const [dir] = process.argv.slice(2);
const log = { debug() {}, info() {}, warn(m, f) { process.stderr.write('warn ' + m + ' ' + JSON.stringify(f) + '\\n'); }, error(m, f) { process.stderr.write('error ' + m + ' ' + JSON.stringify(f) + '\\n'); } };
const h = await UsageHistory.open({ dir, log, timers: false, now: () => ${BASE} });
const found = h.query({ kind: 'app', key: '/k/0', since: 0, until: Number.MAX_SAFE_INTEGER, resolution: 'hour' }).keys[0];
let n = found ? found.packetsIn : 0;
process.stdout.write('start ' + n + ' ' + h.status.state + '\\n');
const info = (key) => ({ key, name: key, exe: key, user: 'root', unknownReason: '' });
const dinfo = (key) => ({ key, name: key, address: key, mac: '', hostname: '', local: false });
for (;;) {
  n++;
  const d = (i) => ({ key: i.key, info: i, bytesIn: n, bytesOut: 2 * n, packetsIn: 1, packetsOut: 2, rateIn: 0, rateOut: 0, liveSessions: 1 });
  const apps = [], devices = [];
  for (let i = 0; i < ${APPS}; i++) apps.push(d(info('/k/' + i)));
  for (let i = 0; i < ${DEVICES}; i++) devices.push(d(dinfo('10.0.0.' + i)));
  h.record({ at: ${BASE} + n * ${STEP_MS}, intervalMs: 1000, windowMs: 5000, apps, devices, totals: {} });
  await h.flush();
  process.stdout.write('flushed ' + n + '\\n');
}
`;

let work = '';
const children: ChildProcess[] = [];

beforeAll(() => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO, stdio: 'pipe' });
  if (!existsSync(DIST_HISTORY)) throw new Error(`${DIST_HISTORY} was not built`);
  work = mkdtempSync(join(tmpdir(), 'sy-history-crash-'));
  writeFileSync(join(work, 'writer.mjs'), CHILD);
}, 240_000);

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Run { start: number; state: string; lastFlushed: number; stderr: string }

/** Starts the writer, waits until it resumed, lets it write for `ms`, then kill -9. */
function runAndKill(dir: string, ms: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(work, 'writer.mjs'), dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const run: Run = { start: -1, state: '', lastFlushed: -1, stderr: '' };
    let buf = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const [word, a, b] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        if (word === 'start') {
          run.start = Number(a); run.state = b!;
          setTimeout(() => child.kill('SIGKILL'), ms);
        } else if (word === 'flushed') run.lastFlushed = Number(a);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => { run.stderr += chunk.toString(); });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' && run.start >= 0) resolve(run);
      else reject(new Error(`writer exited (${code ?? signal}) before it was killed: ${run.stderr}`));
    });
    setTimeout(() => child.kill('SIGKILL'), 30_000);
  });
}

describe('usage history under kill -9', () => {
  it(`opens cleanly, keeps every flushed tick and stays consistent after ${KILLS} kills mid-write`, async () => {
    const dir = join(work, 'history');
    let mustHave = 0;
    let written = 0;
    for (let i = 0; i < KILLS; i++) {
      const run = await runAndKill(dir, 20 + ((i * 37) % 300));
      expect(run.state, run.stderr).toBe('ok');
      expect(run.start).toBeGreaterThanOrEqual(mustHave); // nothing that was reported flushed is lost
      expect(run.stderr).toBe('');
      mustHave = Math.max(mustHave, run.lastFlushed);
      written += Math.max(0, run.lastFlushed - run.start);
    }
    expect(written).toBeGreaterThan(KILLS * 5); // the writer really was writing when killed

    const { UsageHistory } = await import(pathToFileURL(DIST_HISTORY).href) as typeof import('../../app/stats/history.js');
    const { silentLogger } = await import('../../app/log.js');
    const h = await UsageHistory.open({ dir, log: silentLogger, timers: false, now: () => BASE });
    try {
      expect(h.status.state).toBe('ok');
      const all = { since: 0, until: Number.MAX_SAFE_INTEGER };
      const hours = h.query({ kind: 'app', ...all, resolution: 'hour' });
      const minutes = h.query({ kind: 'app', ...all, resolution: 'minute' });
      expect(hours.keys).toHaveLength(APPS);
      const n = hours.keys[0]!.packetsIn;
      expect(n).toBeGreaterThanOrEqual(mustHave);
      for (const k of hours.keys) {
        expect(k).toMatchObject({ packetsIn: n, packetsOut: 2 * n, bytesIn: (n * (n + 1)) / 2, bytesOut: n * (n + 1) });
      }
      const devices = h.query({ kind: 'device', ...all, resolution: 'minute' });
      expect(devices.keys).toHaveLength(DEVICES);
      for (const k of devices.keys) expect(k).toMatchObject({ packetsIn: n, bytesIn: (n * (n + 1)) / 2 });
      // Minutes roll up into hours exactly.
      for (const hb of hours.buckets) {
        const sum = minutes.buckets.filter((m) => m.start >= hb.start && m.start < hb.start + 3_600_000).reduce((a, m) => a + m.bytesIn, 0);
        expect(sum).toBe(hb.bytesIn);
      }
      expect(minutes.buckets.reduce((a, m) => a + m.packetsIn, 0)).toBe(APPS * n);
    } finally {
      await h.close();
    }
  }, 240_000);
});
