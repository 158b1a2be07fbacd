// The control commands of the CLI (app/cli/control.ts, format.ts): formatting with fixed data, and
// each command against a fake connection speaking the protocol (no socket, no service).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliDeps } from '../../../app/cli/main.js';
import type { ControlSession } from '../../../app/cli/control.js';
import { parseSince, parseSort } from '../../../app/cli/control.js';
import { formatBytes, formatDuration, formatRate, formatSessions, formatStatus, formatApps, formatDevices, formatUsage, renderTable } from '../../../app/cli/format.js';
import { METHODS, ProtocolError, createClient, type EventName, type MethodName, type Tick } from '../../../app/protocol/index.js';
import { APPS, DEVICES, STATUS, T0, fakeHandlers, session, tick } from '../control/fakes.js';

const tz = process.env.TZ;
beforeAll(() => { process.env.TZ = 'UTC'; });
afterAll(() => { process.env.TZ = tz; });

describe('format', () => {
  it.each([
    [0, '0 B'], [1023, '1023 B'], [1024, '1.0 KiB'], [1536, '1.5 KiB'], [102_400, '100 KiB'], [5_242_880, '5.0 MiB'], [1_288_490_189, '1.2 GiB'], [2 ** 40 * 3, '3.0 TiB'],
  ])('formatBytes(%d) = %s', (n, text) => { expect(formatBytes(n)).toBe(text); });

  it.each([
    [0, '0s'], [59_999, '59s'], [125_000, '2m 05s'], [7_384_000, '2h 03m'], [90_000_000, '1d 01h'],
  ])('formatDuration(%d) = %s', (ms, text) => { expect(formatDuration(ms)).toBe(text); });

  it('formats rates in the same binary units per second', () => {
    expect([formatRate(0), formatRate(1_048_576), formatRate(2048)]).toEqual(['0 B/s', '1.0 MiB/s', '2.0 KiB/s']);
  });

  it('aligns tables: text left, numbers right, no trailing spaces', () => {
    expect(renderTable([{ header: 'NAME' }, { header: 'N', align: 'right' }, { header: 'NOTE' }], [['a', '1', ''], ['bbbbbb', '100', 'x']]))
      .toBe('NAME      N  NOTE\na         1\nbbbbbb  100  x\n');
  });

  it('formats the sessions page', () => {
    const page = { total: 3, offset: 0, sessions: [
      session(1),
      session(12, { protocol: 'udp', family: 6, src: 'fd00::5', dst: '2606:4700::1111', dstPort: 53, bytesIn: 1_536_000, app: { kind: 'unknown', reason: 'process exited' }, device: { address: 'fd00::5', hostname: 'phone', local: false } }),
    ] };
    expect(formatSessions(page, T0 + 125_000)).toBe(
      'ID  PROTO  SOURCE              DESTINATION           ROUTE    STATE        APP                 DEVICE          IN      OUT     AGE\n' +
      ' 1  tcp    192.168.1.20:40001  93.184.216.34:443     pending  established  curl                this host   1000 B    100 B  2m 05s\n' +
      '12  udp    [fd00::5]:40012     [2606:4700::1111]:53  pending  established  ? (process exited)  phone      1.5 MiB  1.2 KiB  2m 05s\n' +
      'showing 1–2 of 3 sessions\n');
    expect(formatSessions({ total: 0, offset: 0, sessions: [] }, T0)).toBe('no sessions\n');
  });

  it('formats status, apps, devices and usage', () => {
    expect(formatStatus(STATUS, 1)).toBe(
      'Switchyard 0.1.0, up 2h 03m (protocol 1)\n' +
      '  routing   on\n' +
      '  tun       sy0  mtu 1500  offload on\n' +
      '  egress    eth0  10.0.0.2  fd00::2\n' +
      '  sessions  12 live: 10 tcp, 2 udp, 0 icmp\n' +
      '  traffic   in 1.2 GiB (812,345 packets)  out 30.1 MiB (401,000 packets)\n' +
      '  drops     malformed 3\n');
    expect(formatApps(APPS, T0 + 90_000)).toBe(
      'APP   USER   SESSIONS       IN       OUT    RATE IN   RATE OUT  LAST SEEN  EXECUTABLE\n' +
      'curl  alice       2/7  5.0 MiB  10.0 KiB  1.0 MiB/s  2.0 KiB/s    30s ago  /usr/bin/curl\n');
    expect(formatDevices(DEVICES, T0 + 90_000)).toBe(
      'DEVICE     ADDRESS       MAC                SESSIONS       IN       OUT    RATE IN   RATE OUT   LAST SEEN\n' +
      'this host  192.168.1.20                          2/7  5.0 MiB  10.0 KiB  1.0 MiB/s  2.0 KiB/s     30s ago\n' +
      'phone      192.168.1.33  aa:bb:cc:dd:ee:ff       0/1    700 B     300 B      0 B/s      0 B/s  1m 29s ago\n');
    expect(formatUsage({ resolution: 'hour', buckets: [{ start: T0, bytesIn: 2048, bytesOut: 1024, packetsIn: 1, packetsOut: 1 }] })).toBe(
      'HOUR                   IN      OUT    TOTAL\n' +
      '2026-11-25 08:00  2.0 KiB  1.0 KiB  3.0 KiB\n' +
      'total             2.0 KiB  1.0 KiB  3.0 KiB\n');
  });

  it('parses --since and --sort', () => {
    expect(parseSince('1h', T0)).toBe(T0 - 3_600_000);
    expect(parseSince('7d', T0)).toBe(T0 - 7 * 86_400_000);
    expect(parseSince('2026-11-25T07:00:00Z', T0)).toBe(T0 - 3_600_000);
    expect(parseSince('yesterday', T0)).toMatch(/is not a duration/);
    expect(parseSort('bytes')).toEqual({ field: 'bytes', order: 'desc' });
    expect(parseSort('app')).toEqual({ field: 'app', order: 'asc' });
    expect(parseSort('id:desc')).toEqual({ field: 'id', order: 'desc' });
    expect(parseSort('nope')).toMatch(/"nope" is not one of/);
  });
});

/** A ControlSession that validates params like the server and calls fake handlers directly. */
function fakeSession(h = fakeHandlers()) {
  const listeners = new Map<string, Set<(d: unknown) => void>>();
  const states = new Set<(s: 'connected' | 'disconnected' | 'closed') => void>();
  let closed = false;
  const api = createClient(async (m, params) => {
    const parsed = METHODS[m].params.safeParse(params);
    if (!parsed.success) throw new ProtocolError('INVALID_PARAMS', `${m}: bad params`);
    if (m === 'subscribe' || m === 'unsubscribe' || m === 'hello') return { topics: ['tick'], intervalMs: 1000 } as never;
    const handler = h.handlers[m as Exclude<MethodName, 'hello' | 'subscribe' | 'unsubscribe'>] as (p: unknown, c: unknown) => unknown;
    return handler(parsed.data, { peer: 'test', signal: new AbortController().signal }) as never;
  });
  const session: ControlSession = {
    api, server: { protocolVersion: 1, serverVersion: '0.1.0', methods: [] },
    on: (e: EventName, l: (d: never) => void) => { const s = listeners.get(e) ?? new Set(); listeners.set(e, s); s.add(l as (d: unknown) => void); return () => s.delete(l as (d: unknown) => void); },
    onState: (l) => { states.add(l); return () => states.delete(l); },
    close: () => { closed = true; },
  };
  return { session, calls: h.calls, emit: (t: Tick) => listeners.get('tick')?.forEach((l) => l(t)), isClosed: () => closed, disconnect: () => states.forEach((l) => l('disconnected')) };
}

async function cli(argv: string[], deps: Partial<CliDeps>) {
  let stdout = '', stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  const code = await main(argv, io, { now: () => T0 + 125_000, ...deps });
  return { code, stdout, stderr };
}

describe('commands', () => {
  it('status prints the summary, --json the raw result, and closes the connection', async () => {
    const f = fakeSession();
    const paths: string[] = [];
    const r = await cli(['status', '--socket', '/tmp/x.sock'], { connect: async (p) => { paths.push(p); return f.session; } });
    expect([r.code, r.stdout.split('\n')[0], paths, f.isClosed()]).toEqual([0, 'Switchyard 0.1.0, up 2h 03m (protocol 1)', ['/tmp/x.sock'], true]);
    const j = await cli(['status', '--json'], { connect: async () => fakeSession().session });
    expect(JSON.parse(j.stdout)).toEqual(STATUS);
  });

  it('uses the config default socket without --socket', async () => {
    const paths: string[] = [];
    await cli(['apps'], { connect: async (p) => { paths.push(p); return fakeSession().session; } });
    expect(paths).toEqual(['/run/switchyard/control.sock']);
  });

  it('on / off set routing', async () => {
    const f = fakeSession();
    expect((await cli(['off'], { connect: async () => f.session })).stdout).toMatch(/^routing is off/);
    expect((await cli(['on'], { connect: async () => f.session })).stdout).toMatch(/^routing is on/);
    expect(f.calls).toEqual(['routing.set false', 'routing.set true']);
  });

  it('sessions passes filters, sort and limit', async () => {
    const f = fakeSession();
    const r = await cli(['sessions', '--app', 'curl', '--protocol', 'udp', '--sort', 'bytes', '--limit', '5'], { connect: async () => f.session });
    expect(r.code).toBe(0);
    expect(f.calls).toEqual(['sessions.list {"filter":{"app":"curl","protocol":"udp"},"sort":{"field":"bytes","order":"desc"},"offset":0,"limit":5}']);
    expect(r.stdout).toMatch(/^ID  PROTO/);
  });

  it.each([
    [['sessions', '--protocol', 'sctp'], /--protocol: "sctp" is not one of tcp, udp, icmp/],
    [['sessions', '--limit', 'ten'], /--limit: "ten" is not a number/],
    [['sessions', '--sort', 'x'], /--sort: "x" is not one of/],
    [['close'], /close: ID is required/],
    [['close', 'abc'], /"abc" is not a session id/],
    [['close', '1', '2'], /unexpected argument "2"/],
    [['usage', '--since', 'soon'], /--since: "soon" is not a duration/],
    [['usage', '--resolution', 'day'], /--resolution: "day" is not minute or hour/],
  ])('%j is a usage error (exit 2) before connecting', async (argv, message) => {
    let connected = false;
    const r = await cli(argv, { connect: async () => { connected = true; return fakeSession().session; } });
    expect([r.code, connected]).toEqual([2, false]);
    expect(r.stderr).toMatch(message);
  });

  it('close reports SESSION_NOT_FOUND with exit 1', async () => {
    const f = fakeSession();
    expect(await cli(['close', '1'], { connect: async () => f.session })).toMatchObject({ code: 0, stdout: 'closed session 1\n' });
    expect(await cli(['close', '1'], { connect: async () => f.session })).toMatchObject({ code: 1, stderr: 'switchyard: no live session 1\n' });
  });

  it('usage picks the resolution from the span', async () => {
    const f = fakeSession();
    await cli(['usage', '--since', '1h', '--app', 'curl'], { connect: async () => f.session });
    await cli(['usage', '--since', '7d'], { connect: async () => f.session });
    expect(f.calls).toEqual([
      `usage.query {"app":"curl","since":${T0 + 125_000 - 3_600_000},"resolution":"minute"}`,
      `usage.query {"since":${T0 + 125_000 - 7 * 86_400_000},"resolution":"hour"}`,
    ]);
  });

  it('explains a service that is not running or refuses us, exit 1', async () => {
    const down = await cli(['status'], { connect: async () => { throw new ProtocolError('UNAVAILABLE', 'the Switchyard service is not running (no socket at /x); is the service running? (switchyard up)'); } });
    expect(down).toEqual({ code: 1, stdout: '', stderr: 'switchyard: the Switchyard service is not running (no socket at /x); is the service running? (switchyard up)\n' });
    const refused = await cli(['devices'], { connect: async () => { throw new ProtocolError('FORBIDDEN', 'user bob is not in group switchyard'); } });
    expect(refused).toMatchObject({ code: 1, stderr: 'switchyard: user bob is not in group switchyard\n' });
  });

  it('sessions --watch redraws on every tick until a signal', async () => {
    const f = fakeSession();
    let signal!: () => void;
    const run = cli(['sessions', '--watch'], { connect: async () => f.session, onSignal: (h) => { signal = () => h('SIGINT'); return () => {}; } });
    await new Promise((r) => setTimeout(r, 10));
    f.emit(tick(1));
    await new Promise((r) => setTimeout(r, 10));
    signal();
    const r = await run;
    expect(r.code).toBe(0);
    expect(r.stdout.split('\x1b[H\x1b[2J').length - 1).toBe(2);
    expect(f.calls.filter((c) => c.startsWith('sessions.list'))).toHaveLength(2);
  });

  it('sessions --watch exits 1 when the connection is lost', async () => {
    const f = fakeSession();
    const run = cli(['sessions', '-w'], { connect: async () => f.session, onSignal: () => () => {} });
    await new Promise((r) => setTimeout(r, 10));
    f.disconnect();
    expect(await run).toMatchObject({ code: 1, stderr: expect.stringMatching(/^switchyard: /) });
  });

  it('every control command has --help with usage and options', async () => {
    for (const cmd of ['status', 'on', 'off', 'sessions', 'apps', 'devices', 'close', 'usage']) {
      const r = await cli([cmd, '--help'], {});
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: switchyard ${cmd}`));
      expect(r.stdout).toContain('--socket PATH');
    }
    expect((await cli(['close', '--help'], {})).stdout).toMatch(/^Usage: switchyard close ID /);
    expect((await cli(['--help'], {})).stdout).toContain('  sessions ');
  });
});
