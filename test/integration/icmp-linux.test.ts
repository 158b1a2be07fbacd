// LinuxIcmpEchoFactory (native/socket/linux-icmp.ts) for real: two network namespaces linked by veth;
// a child process in `client` pings `server` over IPv4 and IPv6 through the compiled dist/ output,
// with ping sockets (ping_group_range opened inside the namespace) and with the raw-socket fallback
// (the namespace default "1 0", where even root gets EACCES from a ping socket).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../support/netns.js';

const execFileP = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const MARK = 0x5359, BLOCKED_MARK = 0x1234;

// Pings each destination 3 times with the given mode and mark; prints one JSON line per destination.
const FIXTURE = `
import { LinuxIcmpEchoFactory } from ${JSON.stringify(join(repo, 'dist/native/socket/linux-icmp.js'))};
const [mode, mark, ...dsts] = process.argv.slice(2);
for (const dst of dsts) {
  let s;
  try { s = new LinuxIcmpEchoFactory({ mode }).open(dst, Number(mark)); }
  catch (e) { console.log(JSON.stringify({ dst, error: e.message })); continue; }
  const replies = [];
  s.onReply = (seq, payload) => replies.push([seq, Buffer.from(payload).toString()]);
  for (let seq = 1; seq <= 3; seq++) s.send(seq, Buffer.from('switchyard ' + seq));
  await new Promise((r) => setTimeout(r, 700));
  console.log(JSON.stringify({ dst, kind: s.kind, replies, sendErrors: s.sendErrors }));
  s.close(); s.close(); // close is idempotent: the fd is closed exactly once
}
`;

const WANT = [[1, 'switchyard 1'], [2, 'switchyard 2'], [3, 'switchyard 3']];

describe.skipIf(process.platform !== 'linux' || process.getuid?.() !== 0)('LinuxIcmpEchoFactory in network namespaces', () => {
  const lab = new Lab('syicmp');
  let client = '', fixtureDir = '', fixture = '';

  beforeAll(async () => {
    await execFileP('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo });
    fixtureDir = await mkdtemp(join(tmpdir(), 'sy-icmp-'));
    fixture = join(fixtureDir, 'fixture.mjs');
    await writeFile(fixture, FIXTURE);
    client = await lab.addNs('client');
    const server = await lab.addNs('server');
    await lab.link({ ns: client, ifname: 'eth0', addrs: ['10.77.0.1/24', 'fd77::1/64'] }, { ns: server, ifname: 'eth0', addrs: ['10.77.0.2/24', 'fd77::2/64'] });
    // Proves SO_MARK is set: marked BLOCKED_MARK, the server is unreachable (only inside `client`).
    await lab.exec(client, 'ip', ['route', 'add', 'blackhole', '10.77.0.2/32', 'table', '77']);
    await lab.exec(client, 'ip', ['-6', 'route', 'add', 'blackhole', 'fd77::2/128', 'table', '77']);
    await lab.exec(client, 'ip', ['rule', 'add', 'fwmark', String(BLOCKED_MARK), 'table', '77', 'priority', '100']);
    await lab.exec(client, 'ip', ['-6', 'rule', 'add', 'fwmark', String(BLOCKED_MARK), 'table', '77', 'priority', '100']);
  });

  afterAll(async () => {
    await lab.destroy();
    if (fixtureDir) await rm(fixtureDir, { recursive: true, force: true });
  });

  async function ping(mode: string, mark: number, ...dsts: string[]): Promise<Record<string, unknown>[]> {
    const r = await lab.exec(client, process.execPath, [fixture, mode, String(mark), ...dsts], { timeoutMs: 20_000 });
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('falls back to raw sockets where ping_group_range refuses even root, and gets replies', async () => {
    const [v4, v6] = await ping('auto', MARK, '10.77.0.2', 'fd77::2');
    expect(v4).toEqual({ dst: '10.77.0.2', kind: 'raw', replies: WANT, sendErrors: 0 });
    expect(v6).toEqual({ dst: 'fd77::2', kind: 'raw', replies: WANT, sendErrors: 0 });
  });

  it('reports EACCES clearly when only ping sockets are allowed and the range excludes us', async () => {
    const [r] = await ping('dgram', MARK, '10.77.0.2');
    expect(r!.error).toMatch(/SOCK_DGRAM: EACCES \(gid 0 is outside sysctl net\.ipv4\.ping_group_range\)/);
  });

  it('gets no reply from an address where no host answers', async () => {
    const results = await ping('raw', MARK, '10.77.0.99', 'fd77::99');
    expect(results.map((r) => r.replies)).toEqual([[], []]);
  });

  it('sends with the given fwmark (a rule for another mark blackholes the peer)', async () => {
    const results = await ping('raw', BLOCKED_MARK, '10.77.0.2', 'fd77::2');
    expect(results.map((r) => r.replies)).toEqual([[], []]);
    expect(results.map((r) => r.sendErrors)).toEqual([3, 3]); // blackhole: sendto fails with EINVAL
  });

  describe('with ping sockets allowed in the namespace', () => {
    beforeAll(async () => {
      await lab.exec(client, 'sysctl', ['-qw', 'net.ipv4.ping_group_range=0 2147483647']);
    });

    it('uses kernel ping sockets and gets replies over IPv4 and IPv6', async () => {
      const results = await ping('auto', MARK, '10.77.0.2', 'fd77::2', '::ffff:10.77.0.2');
      expect(results).toEqual([
        { dst: '10.77.0.2', kind: 'dgram', replies: WANT, sendErrors: 0 },
        { dst: 'fd77::2', kind: 'dgram', replies: WANT, sendErrors: 0 },
        { dst: '::ffff:10.77.0.2', kind: 'dgram', replies: WANT, sendErrors: 0 },
      ]);
    });

    it('gets no reply from an address where no host answers', async () => {
      const results = await ping('dgram', MARK, '10.77.0.99', 'fd77::99');
      expect(results.map((r) => r.replies)).toEqual([[], []]);
    });
  });
});
