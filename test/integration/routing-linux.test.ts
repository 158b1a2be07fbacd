// LinuxRoutingManager and LinuxNetworkInfo for real, in network namespaces. The manager runs in this
// process and reaches the namespace through its iproute2 prefix (`ip -n NS …`); the kill -9 case runs
// it in a child inside the namespace (test/fixtures/routing-child.mjs, importing the compiled dist/,
// built in beforeAll with tsconfig.build.json), then recovers from this process.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RoutingState } from '../../app/os/routing.js';
import { LinuxNetworkInfo, LinuxRoutingManager } from '../../native/route/linux.js';
import { Lab, killTree, netState } from '../support/netns.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = fileURLToPath(new URL('../fixtures/routing-child.mjs', import.meta.url));

function buildDist(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: root }, (err, stdout) => {
      if (existsSync(`${root}dist/native/route/linux.js`)) resolve();
      else reject(new Error(`build failed: ${err?.message}\n${stdout}`));
    });
  });
}

const lab = new Lab('syr');
let client = '';
let stateDirs: string[] = [];
/** Snapshot of the client namespace before the TUN exists. */
let pristine = '';

const state: RoutingState = {
  tunName: 'sy0', table: 5359, rulePriority: 5300, fwmark: 0x5359,
  include: ['0.0.0.0/0', '::/0'], exclude: ['192.0.2.0/24', '2001:db8::/32'],
  bypassSources: ['192.0.2.10', '2001:db8::10'],
};

async function newStateDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sy-route-'));
  stateDirs.push(d);
  return join(d, 'state');
}
const manager = (stateDir: string) => new LinuxRoutingManager({ stateDir, ip: ['ip', '-n', client] });
const ip = async (...args: string[]) => (await lab.exec(client, 'ip', args)).stdout;
/** Which device the kernel would send this to (`ip route get`). */
const routeDev = async (...args: string[]) => / dev (\S+)/.exec(await ip(...args.slice(0, 1), 'route', 'get', ...args.slice(1)))?.[1] ?? 'none';

async function makeTun(): Promise<void> {
  // A persistent TUN stands in for the service's device (routes need it to exist).
  if ((await lab.exec(client, 'ip', ['link', 'show', 'dev', 'sy0'], { allowFail: true })).code === 0) return;
  await ip('tuntap', 'add', 'dev', 'sy0', 'mode', 'tun');
  await ip('addr', 'add', '198.18.0.1/30', 'dev', 'sy0');
  await ip('link', 'set', 'dev', 'sy0', 'up');
}

beforeAll(async () => {
  await buildDist();
  client = await lab.addNs('client');
  const peer = await lab.addNs('peer');
  await lab.link({ ns: client, ifname: 'eth0', addrs: ['192.0.2.10/24', '2001:db8::10/64'] }, { ns: peer, ifname: 'eth0', addrs: ['192.0.2.1/24', '2001:db8::1/64'] });
  await ip('route', 'add', 'default', 'via', '192.0.2.1');
  await ip('-6', 'route', 'add', 'default', 'via', '2001:db8::1');
  // Let the veth link-local address finish DAD, or the snapshot would hold a passing 'tentative'.
  for (let i = 0; i < 100 && /tentative/.test(await ip('addr')); i++) await new Promise((r) => setTimeout(r, 100));
  pristine = await netState(client);
  await makeTun();
});
afterAll(async () => {
  await lab.destroy();
  for (const d of stateDirs) await rm(d, { recursive: true, force: true });
});

describe('LinuxNetworkInfo', () => {
  it('finds the default-route interface and its addresses', async () => {
    const info = new LinuxNetworkInfo({ ip: ['ip', '-n', client] });
    expect(await info.egress('auto')).toEqual({ interface: 'eth0', address4: '192.0.2.10', address6: '2001:db8::10' });
    expect(await info.egress('eth0')).toEqual({ interface: 'eth0', address4: '192.0.2.10', address6: '2001:db8::10' });
  });
  it('names a missing interface in its error', async () => {
    await expect(new LinuxNetworkInfo({ ip: ['ip', '-n', client] }).egress('nope0')).rejects.toThrow(/"nope0" does not exist/);
  });
});

describe('LinuxRoutingManager', () => {
  beforeEach(makeTun);

  it('apply routes captured traffic into the TUN, lets marked/bypass/excluded traffic out, and teardown restores everything', async () => {
    const before = await netState(client);
    const stateDir = await newStateDir();
    const m = manager(stateDir);
    await m.apply(state);
    expect(await routeDev('-4', '203.0.113.7')).toBe('sy0');
    expect(await routeDev('-6', '2606:4700::1')).toBe('sy0');
    expect(await routeDev('-4', '192.0.2.1')).toBe('eth0'); // excluded: throw falls through to main
    expect(await routeDev('-6', '2001:db8::1')).toBe('eth0');
    expect(await routeDev('-4', '203.0.113.7', 'mark', '0x5359')).toBe('eth0');
    expect(await routeDev('-4', '203.0.113.7', 'from', '192.0.2.10')).toBe('eth0');
    expect(await routeDev('-6', '2606:4700::1', 'from', '2001:db8::10')).toBe('eth0');
    const applied = await netState(client);
    await m.apply(state); // idempotent
    expect(await netState(client)).toBe(applied);
    await m.teardown();
    expect(await netState(client)).toBe(before);
    expect(await readdir(stateDir)).toEqual([]); // journal cleared
  });

  it('adds IPv6 rules only when IPv6 prefixes are included', async () => {
    const before = await netState(client);
    const m = manager(await newStateDir());
    const rules6 = await ip('-6', 'rule', 'show');
    await m.apply({ ...state, include: ['203.0.113.0/24'] });
    expect(await ip('-6', 'rule', 'show')).toBe(rules6);
    expect(await routeDev('-4', '203.0.113.7')).toBe('sy0');
    await m.teardown();
    expect(await netState(client)).toBe(before);
  });

  it('re-apply with a changed include list removes the stale routes and the dropped family', async () => {
    const before = await netState(client);
    const m = manager(await newStateDir());
    await m.apply({ ...state, include: ['203.0.113.0/24', '2000::/3'] });
    expect(await routeDev('-6', '2606:4700::1')).toBe('sy0');
    await m.apply({ ...state, include: ['198.51.100.0/24'] });
    expect(await routeDev('-4', '203.0.113.7')).toBe('eth0');
    expect(await routeDev('-4', '198.51.100.7')).toBe('sy0');
    expect(await routeDev('-6', '2606:4700::1')).toBe('eth0');
    expect((await ip('-4', 'route', 'show', 'table', '5359')).trim().split('\n').map((l) => l.trim()).sort()).toEqual(['198.51.100.0/24 dev sy0 scope link linkdown', 'throw 192.0.2.0/24']);
    expect(await ip('-6', 'rule', 'show')).not.toMatch(/5359|530[0-2]:/);
    await m.teardown();
    expect(await netState(client)).toBe(before);
  });

  it('recover() after kill -9 of a process that applied routes restores the namespace and deletes the leftover TUN', async () => {
    const stateDir = await newStateDir();
    const child = lab.spawn(client, process.execPath, [fixture, stateDir, JSON.stringify(state)]);
    await new Promise<void>((resolve, reject) => {
      let out = '', err = '';
      child.stdout!.on('data', (d) => { out += d; if (out.includes('"applied"')) resolve(); });
      child.stderr!.on('data', (d) => (err += d));
      child.once('exit', (code) => reject(new Error(`routing child exited ${code}: ${err}`)));
    });
    const exited = new Promise((r) => child.once('exit', r));
    killTree(child, 'SIGKILL');
    await exited;
    expect(await routeDev('-4', '203.0.113.7')).toBe('sy0'); // the dead process's routes are still there

    const lines = await manager(stateDir).recover();
    expect(lines).toEqual(expect.arrayContaining([
      'removed: ip -4 rule priority 5302 lookup 5359',
      'removed: ip -6 route ::/0 dev sy0 table 5359',
      'deleted leftover TUN device sy0',
    ]));
    expect(lines).toHaveLength(11); // 2 families × (3 rules + 2 routes) + the link
    expect(await netState(client)).toBe(pristine);
    expect(await manager(stateDir).recover()).toEqual([]); // nothing left to undo
  });

  it('recover() tolerates entries already gone and reports a corrupt journal moved aside', async () => {
    const stateDir = await newStateDir();
    const m = manager(stateDir);
    await m.apply(state);
    await ip('-4', 'rule', 'del', 'priority', '5302'); // someone removed one already
    expect((await manager(stateDir).recover()).length).toBe(10); // 11 minus the rule already gone
    await makeTun();
    await writeFile(join(stateDir, 'journal.json'), '{"version":1,"entr');
    const lines = await manager(stateDir).recover();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/unreadable .* moved it aside to .*journal\.json\.corrupt-/);
  });

  it('refuses to apply while another live process owns the journal', async () => {
    const stateDir = await newStateDir();
    await manager(stateDir).apply({ ...state, include: ['203.0.113.0/24'] });
    await writeFile(join(stateDir, 'journal.json'), JSON.stringify({ version: 1, owner: { pid: 1, startTime: null }, entries: [] }));
    await expect(manager(stateDir).apply(state)).rejects.toThrow(/belongs to a running process \(pid 1\)/);
    // Clean up by hand: the journal no longer lists what the first apply made.
    for (const p of ['5300', '5301', '5302']) await lab.exec(client, 'ip', ['-4', 'rule', 'del', 'priority', p], { allowFail: true });
    await lab.exec(client, 'ip', ['-4', 'route', 'flush', 'table', '5359'], { allowFail: true });
  });

  it('quotes the failing ip command and its stderr', async () => {
    const m = manager(await newStateDir());
    await expect(m.apply({ ...state, tunName: 'nosuchdev' })).rejects.toThrow(/`ip -n \S+ -4 route add 0\.0\.0\.0\/0 dev nosuchdev table 5359` failed: Cannot find device "nosuchdev"/);
    await m.teardown();
  });
});
