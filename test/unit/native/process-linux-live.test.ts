// LinuxProcessResolver against this very process: short loopback connections opened and closed the
// way a busy client does (fd numbers reused lowest-first), each looked up as the
// engine looks up a new flow. Every lookup must name this process, and the owner search must read
// only a few fd links per lookup (the fds where this process's recent sockets were), not all of them.
import net from 'node:net';
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinuxProcessResolver } from '../../../native/process/linux.js';

const linux = process.platform === 'linux';

describe.runIf(linux)('LinuxProcessResolver on live sockets of this process', () => {
  let server: net.Server;
  let port = 0;
  const held: net.Socket[] = [];

  beforeAll(async () => {
    server = net.createServer((s) => { s.on('error', () => {}); s.end(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as net.AddressInfo).port;
    // Plenty of other fds, so reading all of them would show in the count.
    for (let i = 0; i < 40; i++) held.push(net.connect(port, '127.0.0.1').on('error', () => {}));
    await Promise.all(held.map((c) => new Promise((r) => c.once('connect', r))));
  });
  afterAll(async () => {
    for (const c of held) c.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('names this process for 240 short connections (2 at a time), reading a few fd links each', async () => {
    const resolver = new LinuxProcessResolver();
    const fdCount = readdirSync('/proc/self/fd').length;
    const pids: number[] = [];
    const names = new Set<string>();
    const loop = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const c = net.connect(port, '127.0.0.1').on('error', () => {});
        await new Promise((r) => c.once('connect', r));
        const a = await resolver.resolve({ protocol: 'tcp', family: 4, src: '127.0.0.1', srcPort: c.localPort!, dst: '127.0.0.1', dstPort: port });
        if (a.kind === 'process') { pids.push(a.process.pid); names.add(a.process.name); } else pids.push(-1);
        c.destroy();
      }
    };
    await Promise.all(Array.from({ length: 2 }, () => loop(120)));
    resolver.close();
    expect(pids).toHaveLength(240);
    expect(new Set(pids)).toEqual(new Set([process.pid]));
    expect(names.size).toBe(1);
    const perLookup = resolver.phases.fdsRead / resolver.stats.lookups;
    // A full scan per lookup reads every fd (more than 50 here); the hot fds keep it to a handful.
    expect(fdCount).toBeGreaterThan(50);
    console.log(`fd links read per lookup: ${perLookup.toFixed(1)} (the process has ${fdCount} fds)`);
    expect(perLookup).toBeLessThan(fdCount / 8);
  });

  it('resolveNow answers a known process\'s new sockets at once, defers what needs a search, and counts each lookup once', async () => {
    const resolver = new LinuxProcessResolver();
    const key = (c: net.Socket) => ({ protocol: 'tcp' as const, family: 4 as const, src: '127.0.0.1', srcPort: c.localPort!, dst: '127.0.0.1', dstPort: port });
    const open = async () => { const c = net.connect(port, '127.0.0.1').on('error', () => {}); await new Promise((r) => c.once('connect', r)); return c; };
    // Cold: no recent owner, so only the search (resolve) can tell; nothing counted for the miss.
    const first = await open();
    expect(resolver.resolveNow(key(first))).toBeNull();
    expect(resolver.stats.lookups).toBe(0);
    const viaSearch = await resolver.resolve(key(first));
    expect(viaSearch.kind).toBe('process');
    first.destroy();
    let atOnce = 0;
    for (let i = 0; i < 50; i++) {
      const c = await open();
      const a = resolver.resolveNow(key(c)) ?? await resolver.resolve(key(c));
      if (a.kind === 'process' && a.process.pid === process.pid) atOnce++;
      c.destroy();
    }
    // A socket that is gone is not answered here (resolve() explains why).
    const gone = await open();
    const k = key(gone);
    gone.destroy();
    await new Promise((r) => setTimeout(r, 20));
    expect(resolver.resolveNow(k)).toBeNull();
    resolver.close();
    expect(atOnce).toBe(50);
    expect(resolver.stats.lookups).toBe(51);
    expect(resolver.stats.hits).toBe(51);
  });
});
