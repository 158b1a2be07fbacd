// `switchyard upstreams` and `switchyard upstreams check NAME` (app/cli/rules.ts, formatUpstreams in
// format.ts) against the fake handlers.
import { describe, expect, it } from 'vitest';
import { main } from '../../../app/cli/main.js';
import { formatUpstreams } from '../../../app/cli/format.js';
import type { UpstreamStatusWire } from '../../../app/protocol/index.js';
import { T0, fakeControlSession, fakeHandlers } from '../control/fakes.js';

async function cli(argv: string[], h = fakeHandlers()) {
  let stdout = '', stderr = '', connected = false;
  const f = fakeControlSession(h);
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  const code = await main(argv, io, { now: () => T0 + 125_000, connect: async () => { connected = true; return f.session; } });
  return { code, stdout, stderr, connected, calls: h.calls };
}

const TABLE =
  'NAME  TYPE    ADDRESS        AUTH  UDP  STATE  LATENCY  FLOWS  FAILURES     CHECKED  ERROR\n' +
  'corp  socks5  10.0.0.2:1080  yes   yes  up      3.0 ms     12         0  2m 05s ago\n';

describe('upstreams', () => {
  it('`upstreams` and `upstreams list` print the table', async () => {
    for (const argv of [['upstreams'], ['upstreams', 'list']]) {
      expect(await cli(argv)).toMatchObject({ code: 0, stdout: TABLE, stderr: '', calls: ['upstreams.list'] });
    }
  });

  it('--json prints the list', async () => {
    const r = await cli(['upstreams', '--json']);
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ name: 'corp', state: 'up', latencyMs: 3 })]);
  });

  it('check NAME checks it now and prints its status', async () => {
    expect(await cli(['upstreams', 'check', 'corp'])).toMatchObject({ code: 0, stdout: TABLE, calls: ['upstreams.check {"name":"corp"}'] });
    expect(JSON.parse((await cli(['upstreams', 'check', 'corp', '--json'])).stdout)).toMatchObject({ name: 'corp', state: 'up' });
  });

  it('check exits 1 when the upstream is down, with its error', async () => {
    const h = fakeHandlers();
    h.handlers['upstreams.check'] = ({ name }) => ({
      name, type: 'http', address: '10.0.0.3', port: 3128, auth: false, udp: false, state: 'down', since: T0, checkedAt: T0 + 125_000,
      latencyMs: null, error: 'connect ECONNREFUSED 10.0.0.3:3128', flows: 0, failures: 4,
    });
    const r = await cli(['upstreams', 'check', 'proxy'], h);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      'NAME   TYPE  ADDRESS        AUTH  UDP  STATE  LATENCY  FLOWS  FAILURES  CHECKED  ERROR\n' +
      'proxy  http  10.0.0.3:3128  no    no   down         -      0         4   0s ago  connect ECONNREFUSED 10.0.0.3:3128\n');
  });

  it('check of an unknown upstream: message, exit 1', async () => {
    expect(await cli(['upstreams', 'check', 'nope'])).toMatchObject({ code: 1, stdout: '', stderr: 'switchyard: no upstream named "nope"\n' });
  });

  it('check without NAME is a usage error before connecting', async () => {
    const r = await cli(['upstreams', 'check']);
    expect([r.code, r.connected]).toEqual([2, false]);
    expect(r.stderr).toMatch(/upstreams check: NAME is required\nRun "switchyard upstreams check --help" for usage/);
  });

  it('formats never-checked, IPv6 and slow upstreams, and an empty list', () => {
    const u: UpstreamStatusWire = {
      name: 'v6', type: 'socks5', address: 'fd00::1', port: 1080, auth: false, udp: true, state: 'unknown', since: 0, checkedAt: 0,
      latencyMs: null, error: null, flows: 1234, failures: 0,
    };
    expect(formatUpstreams([u, { ...u, name: 'far', state: 'up', latencyMs: 182.4, checkedAt: T0 }], T0 + 3_600_000)).toBe(
      'NAME  TYPE    ADDRESS         AUTH  UDP  STATE    LATENCY  FLOWS  FAILURES     CHECKED  ERROR\n' +
      'v6    socks5  [fd00::1]:1080  no    yes  unknown        -  1,234         0       never\n' +
      'far   socks5  [fd00::1]:1080  no    yes  up        182 ms  1,234         0  1h 00m ago\n');
    expect(formatUpstreams([], T0)).toBe('no upstreams configured (add them under `upstreams:` in the config file)\n');
  });

  it('upstreams check --help explains the exit status', async () => {
    const r = await cli(['upstreams', 'check', '--help']);
    expect(r.stdout).toMatch(/^Usage: switchyard upstreams check NAME/);
    expect(r.stdout).toContain('Exit status 1 when it is down');
    expect(r.stdout).toContain('switchyard upstreams check corp');
  });
});
