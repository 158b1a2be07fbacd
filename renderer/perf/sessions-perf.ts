// renderer/perf — frame times of the Sessions view with 10,000 live sessions ticking, in a real
// Chromium (playwright-core, Debian's /usr/bin/chromium; nothing is downloaded).
//
//   dist/renderer/ ──(static server below, with the service's CSP)──▶ perf.html?sessions=N&active=1
//   Chromium headless ─▶ wait until the fake core has N sessions ─▶ warm up ─▶ requestAnimationFrame
//   deltas for S seconds with ticks only, then S seconds with ticks while the table scrolls
//   ─▶ p50 / p95 / p99 / max frame time, frames over 50 ms, and per tick the time from its delivery
//   to the DOM being updated (core apply + filter/sort + render).
//
// Run: npm run perf:renderer [-- --sessions 10000 --seconds 10 --json]
// Or from a bench: import { measureSessionsFrameTimes } from 'dist/renderer-perf/sessions-perf.js'.
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

/** Frame interval statistics in milliseconds. */
export interface FrameStats { frames: number; p50: number; p95: number; p99: number; max: number; over50ms: number; fps: number }

/** Where the main thread's time went, in ms per second of measurement (Chrome's Performance domain). */
export interface MainThread { scriptMsPerSec: number; styleMsPerSec: number; layoutMsPerSec: number; busyMsPerSec: number }

/** What one measurement found. */
export interface SessionsPerfResult {
  url: string;
  browser: string;
  sessions: number;
  seconds: number;
  /** Ticks only: the table is still. */
  idle: FrameStats;
  /** Ticks while the table scrolls continuously. */
  scrolling: FrameStats;
  idleMainThread: MainThread;
  scrollingMainThread: MainThread;
  /** Per tick: delivery → DOM updated. */
  tickToDom: { ticks: number; p50: number; p95: number; max: number };
  /** Rows in the DOM at the end (virtualization check). */
  domRows: number;
  cspViolations: string[];
  pageErrors: string[];
}

/** How to measure. */
export interface SessionsPerfOptions {
  /** A page with a fake core (default: dist/renderer/perf.html served here). */
  url?: string;
  /** The built renderer (default: dist/renderer next to this script's dist/). */
  distDir?: string;
  sessions?: number;
  /** Share of sessions updated per tick (default 1: all, the worst case). */
  active?: number;
  churn?: number;
  seconds?: number;
  warmupSeconds?: number;
  executablePath?: string;
  viewport?: { width: number; height: number };
}

/** The web UI server's Content-Security-Policy (app/ui/web-ui.ts), so the perf page proves the build runs under it. */
export const SERVICE_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
  + "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.svg': 'image/svg+xml', '.json': 'application/json',
};

/** Serves `dir` on 127.0.0.1 (a random port) with the service's CSP; `close` stops it. */
export async function serveDir(dir: string): Promise<{ origin: string; close: () => Promise<void> }> {
  const root = resolve(dir);
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (file !== root && !file.startsWith(root + sep)) { res.writeHead(403).end(); return; }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-security-policy': SERVICE_CSP }).end(body),
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise<void>((ok) => server.close(() => ok())) };
}

function stats(deltas: number[], seconds: number): FrameStats {
  const d = [...deltas].sort((a, b) => a - b);
  const q = (p: number) => (d.length ? d[Math.min(d.length - 1, Math.floor(p * d.length))]! : 0);
  const r = (v: number) => Math.round(v * 10) / 10;
  return { frames: d.length, p50: r(q(0.5)), p95: r(q(0.95)), p99: r(q(0.99)), max: r(d.at(-1) ?? 0), over50ms: d.filter((x) => x > 50).length, fps: r(d.length / seconds) };
}

/** Opens the perf page in headless Chromium and measures frame times while sessions tick. */
export async function measureSessionsFrameTimes(opts: SessionsPerfOptions = {}): Promise<SessionsPerfResult> {
  const sessions = opts.sessions ?? 10_000;
  const seconds = opts.seconds ?? 10;
  const distDir = opts.distDir ?? fileURLToPath(new URL('../renderer/', import.meta.url));
  const served = opts.url === undefined ? await serveDir(distDir) : null;
  const base = opts.url ?? `${served!.origin}/perf.html`;
  const url = `${base}${base.includes('?') ? '&' : '?'}sessions=${sessions}&active=${opts.active ?? 1}&churn=${opts.churn ?? 20}&view=sessions`;
  const browser = await chromium.launch({
    executablePath: opts.executablePath ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: opts.viewport ?? { width: 1600, height: 1000 } });
    const cspViolations: string[] = [], pageErrors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
    await page.goto(url);
    await page.waitForFunction((n) => {
      const p = (window as unknown as { __perf?: { ready: boolean; sessions: number } }).__perf;
      return p !== undefined && p.ready && p.sessions >= n * 0.99;
    }, sessions, { timeout: 60_000 });
    await page.waitForTimeout((opts.warmupSeconds ?? 3) * 1000);

    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const run = async (scroll: boolean) => {
      const m0 = await metrics();
      const before = await page.evaluate(() => (window as unknown as { __perf: { tickMs: number[] } }).__perf.tickMs.length);
      const deltas = await page.evaluate(([secs, doScroll]) => new Promise<number[]>((done) => {
        const grid = document.querySelector<HTMLElement>('[role="grid"]');
        const out: number[] = [];
        let last = performance.now(), dir = 1;
        const end = last + secs * 1000;
        const frame = (now: number) => {
          out.push(now - last);
          last = now;
          if (doScroll && grid) {
            grid.scrollTop += 45 * dir;
            if (grid.scrollTop + grid.clientHeight >= grid.scrollHeight - 2) dir = -1;
            else if (grid.scrollTop <= 0) dir = 1;
          }
          if (now < end) requestAnimationFrame(frame);
          else done(out.slice(1));
        };
        requestAnimationFrame(frame);
      }), [seconds, scroll] as const);
      const ticks = await page.evaluate((from) => (window as unknown as { __perf: { tickMs: number[] } }).__perf.tickMs.slice(from), before);
      const m1 = await metrics();
      const per = (k: string) => Math.round((((m1[k] ?? 0) - (m0[k] ?? 0)) * 1000) / seconds);
      const main: MainThread = { scriptMsPerSec: per('ScriptDuration'), styleMsPerSec: per('RecalcStyleDuration'), layoutMsPerSec: per('LayoutDuration'), busyMsPerSec: per('TaskDuration') };
      return { frames: stats(deltas, seconds), ticks, main };
    };
    const idle = await run(false);
    const scrolling = await run(true);
    const ticks = [...idle.ticks, ...scrolling.ticks].sort((a, b) => a - b);
    const domRows = await page.evaluate(() => document.querySelectorAll('[role="row"]').length - 1);
    for (const e of pageErrors) if (e.startsWith('CSP violation')) cspViolations.push(e);
    const r = (v: number) => Math.round(v * 10) / 10;
    return {
      url, browser: `Chromium ${browser.version()}`, sessions, seconds,
      idle: idle.frames, scrolling: scrolling.frames, idleMainThread: idle.main, scrollingMainThread: scrolling.main,
      tickToDom: { ticks: ticks.length, p50: r(ticks[Math.floor(ticks.length / 2)] ?? 0), p95: r(ticks[Math.floor(ticks.length * 0.95)] ?? 0), max: r(ticks.at(-1) ?? 0) },
      domRows, cspViolations, pageErrors: pageErrors.filter((e) => !e.startsWith('CSP violation')),
    };
  } finally {
    await browser.close();
    await served?.close();
  }
}

/** The result as a small table. */
export function formatResult(r: SessionsPerfResult): string {
  const row = (name: string, s: FrameStats, m: MainThread) =>
    `${name.padEnd(22)}${String(s.frames).padStart(7)}${s.fps.toFixed(1).padStart(7)}${s.p50.toFixed(1).padStart(8)}${s.p95.toFixed(1).padStart(8)}${s.p99.toFixed(1).padStart(8)}${s.max.toFixed(1).padStart(8)}${String(s.over50ms).padStart(8)}`
    + `   ${m.busyMsPerSec} ms/s busy (script ${m.scriptMsPerSec}, style ${m.styleMsPerSec}, layout ${m.layoutMsPerSec})`;
  return [
    `Sessions view, ${r.sessions.toLocaleString('en')} live sessions, all updated every tick (1 s); ${r.browser} headless, software rendering`,
    `frame time (ms)        frames    fps     p50     p95     p99     max  >50 ms   main thread`,
    row('ticks only', r.idle, r.idleMainThread),
    row('ticks + scrolling', r.scrolling, r.scrollingMainThread),
    `tick → DOM updated     ${r.tickToDom.ticks} ticks: p50 ${r.tickToDom.p50} ms, p95 ${r.tickToDom.p95} ms, max ${r.tickToDom.max} ms`,
    `rows in the DOM        ${r.domRows}`,
    `CSP violations         ${r.cspViolations.length ? r.cspViolations.join('; ') : 'none'}`,
    ...(r.pageErrors.length ? [`page errors            ${r.pageErrors.join('; ')}`] : []),
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const arg = (name: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : undefined; };
  const num = (name: string) => (arg(name) !== undefined ? Number(arg(name)) : undefined);
  const opts: SessionsPerfOptions = {};
  if (arg('url') !== undefined) opts.url = arg('url')!;
  if (num('sessions') !== undefined) opts.sessions = num('sessions')!;
  if (num('seconds') !== undefined) opts.seconds = num('seconds')!;
  if (num('active') !== undefined) opts.active = num('active')!;
  if (arg('chromium') !== undefined) opts.executablePath = arg('chromium')!;
  measureSessionsFrameTimes(opts).then(
    (r) => { console.log(args.includes('--json') ? JSON.stringify(r, null, 2) : formatResult(r)); },
    (e: unknown) => { console.error(`sessions-perf: ${(e as Error).message}`); process.exit(1); },
  );
}
