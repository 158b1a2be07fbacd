// Direct TCP outbounds are limited per destination, not per egress address.
//
// Node's net.connect({ localAddress }) binds the egress address with port 0 before connecting, so the
// kernel must find a port no other socket holds, TIME_WAIT included: one egress address could carry at
// most ip_local_port_range's size (28,232 by default) of outbound connections in any 60 s when apps
// close first — about 470 new connections a second — whatever the destinations (measured by hand: with
// 100 ephemeral ports, connection 101 failed with EADDRINUSE although it went to another server). The
// service binds with IP_BIND_ADDRESS_NO_PORT instead, so the port is chosen at connect(2) by the whole
// 4-tuple: the splice relay's own dial (app/os/relay.ts RelayDialer, native/relay/splice-worker.ts) and
// every Node-dialled outbound (app/os/socket.ts, app/outbound/direct.ts). Both engine modes run it: the
// fast one dials in the splice worker, the fallback through Node.
//
// Here the service's namespace gets 100 ephemeral ports, and an app there makes 180 connections that
// each close first (leaving TIME_WAIT on the service's outbound) to two servers: 90 per destination,
// 180 in all — more than 100, so this passes only if the port is picked per destination.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execIn } from '../support/netns.js';
import { ADDR } from '../support/topology.js';
import { KIT_PORTS } from '../support/peers.js';
import { startTrafficLab, ENGINE_MODES, type ServiceConfig, type TrafficLab } from '../support/service.js';

const CONNECTIONS = 180;

describe.each(ENGINE_MODES)('direct TCP egress ports per destination ($name)', (mode) => {
  let t: TrafficLab;
  beforeAll(async () => {
    t = await startTrafficLab('switchyard', { tag: 'syport', service: mode.service as ServiceConfig });
    await execIn(t.topo.client, 'sysctl', ['-q', '-w', 'net.ipv4.ip_local_port_range=40000 40099']);
  }, 90_000);
  afterAll(async () => { await t?.dispose(); });

  it(`${CONNECTIONS} app-closes-first connections to two servers with 100 ephemeral ports all succeed`, async () => {
    expect(t.svc!.log, t.why()).toMatch(mode.expect);
    // One app process: each connection sends a line, half-closes, reads the kit's answer to EOF.
    const script = `
const net = require('node:net');
const targets = ${JSON.stringify([ADDR.server4, ADDR.offlink4])};
const one = (host) => new Promise((resolve) => {
  const s = net.connect({ host, port: ${KIT_PORTS.halfClose} });
  let got = '';
  s.on('connect', () => s.end('hello'));
  s.on('data', (d) => { got += d; });
  s.on('error', (e) => resolve(e.code || 'error'));
  s.on('close', () => resolve(/^[0-9a-f]{64} 5\\n$/.test(got) ? null : 'bad answer ' + JSON.stringify(got)));
});
(async () => {
  const errors = {};
  let ok = 0;
  for (let i = 0; i < ${CONNECTIONS}; i++) {
    const e = await one(targets[i % 2]);
    if (e === null) ok++; else errors[e] = (errors[e] || 0) + 1;
  }
  console.log(JSON.stringify({ ok, errors }));
})();`;
    const r = await execIn(t.topo.client, process.execPath, ['-e', script], { timeoutMs: 120_000 });
    const result = JSON.parse(r.stdout.trim()) as { ok: number; errors: Record<string, number> };
    const tw = await execIn(t.topo.client, 'ss', ['-Htan', 'state', 'time-wait', 'src', ADDR.client4]);
    const outboundTimeWait = tw.stdout.split('\n').filter(Boolean).length;
    expect(result, t.why({ result, outboundTimeWait })).toEqual({ ok: CONNECTIONS, errors: {} });
    // The outbound really closed first (TIME_WAIT on the egress address) and more sockets were in
    // TIME_WAIT there than there are ephemeral ports: the test could not pass with one port per socket.
    expect(outboundTimeWait, t.why(tw.stdout.slice(0, 500))).toBeGreaterThan(100);
  }, 150_000);
});
