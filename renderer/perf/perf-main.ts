// renderer/perf — the perf page (dist/renderer/perf.html): the real App and Core over FakeService,
// no service needed. Also the dev harness: perf.html?sessions=300&view=overview.
//   ?sessions=N    live sessions (default 10000)
//   ?active=F      share updated per tick, 0..1 (default 1: every session, the worst case)
//   ?churn=N       sessions replaced per tick (default 20)
//   ?interval=MS   tick interval (default 1000)
//   ?view=NAME     overview | sessions | apps | rules | settings (default sessions)
// window.__perf reports readiness and, per tick, the time from the tick's delivery until Svelte has
// updated the DOM (core apply + derived filter/sort + render), for renderer/perf/sessions-perf.ts.
import '../src/lib/zod-jitless.js'; // before anything builds a zod schema
import { mount, tick } from 'svelte';
import App, { VIEWS, type ViewName } from '../src/App.svelte';
import { Core } from '../src/lib/core.svelte.js';
import { Prefs } from '../src/lib/prefs.svelte.js';
import { FakeService } from '../dev/fake-service.js';
import '../src/styles.css';

/** What the perf script reads from the page. */
export interface PerfProbe {
  ready: boolean;
  sessions: number;
  /** Per tick: ms from delivery to DOM updated. */
  tickMs: number[];
  /** Per tick: ms the fake took to build it (not the UI's cost). */
  buildMs: number[];
}

const q = new URLSearchParams(location.search);
const num = (k: string, d: number) => (q.has(k) && Number.isFinite(Number(q.get(k))) ? Number(q.get(k)) : d);
const view = (VIEWS as readonly string[]).includes(q.get('view') ?? '') ? (q.get('view') as ViewName) : 'sessions';

const fake = new FakeService({ sessions: num('sessions', 10_000), activeShare: num('active', 1), churnPerTick: num('churn', 20) });
const probe: PerfProbe = { ready: false, sessions: 0, tickMs: [], buildMs: [] };
(window as unknown as { __perf: PerfProbe }).__perf = probe;

let t0 = 0;
fake.on('tick', () => { t0 = performance.now(); }); // before the core's listener
const core = new Core({ bridge: fake, host: 'browser', storage: null, clientName: 'perf-page' });
core.start();
void core.setTickInterval(num('interval', 1000));
fake.on('tick', () => { // after the core's listener
  const start = t0;
  void tick().then(() => {
    probe.tickMs.push(performance.now() - start);
    probe.buildMs.push(fake.lastTickBuildMs);
    probe.sessions = core.sessions.length;
    probe.ready = core.connection.phase === 'ready';
  });
});

mount(App, { target: document.getElementById('app')!, props: { core, prefs: new Prefs(null), initialView: view } });
