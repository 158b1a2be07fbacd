// The control socket's file and access rules (app/control/unix-transport.ts, native/control):
// directory and socket modes, group ownership, a stale socket replaced, a live one refused, and the
// peer-credential check against real other users — children run as `nobody` with setpriv, with
// groups that already exist on the host (no users or groups are added).
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startControlServer, type ControlServer, type ControlServerOptions } from '../../app/control/server.js';
import { groupId } from '../../app/control/access.js';
import { readFileSync } from 'node:fs';
import { createLogger } from '../../app/log.js';
import { fakeHandlers } from '../unit/control/fakes.js';

const execFileP = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const groups = readFileSync('/etc/group', 'utf8');
const USERS = groupId(groups, 'users');
const NOGROUP = groupId(groups, 'nogroup');
const canDropPrivileges = isRoot && USERS !== null && NOGROUP !== null;

let dir = '';
let n = 0;
const servers: ControlServer[] = [];
const logs: string[] = [];
const log = createLogger('debug', (l) => logs.push(l));

// The temp dir is reachable by `nobody` (0755), like /run; each test gets its own socket directory.
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sy-ctl-acl-')); await chmod(dir, 0o755); await writeFile(join(dir, 'probe.mjs'), PROBE, { mode: 0o644 }); });
afterEach(async () => { for (const s of servers.splice(0)) await s.close(); logs.length = 0; });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

function socketPath(): string { return join(dir, `run${++n}`, 'control.sock'); }

async function start(path: string, opts: Partial<ControlServerOptions> = {}): Promise<ControlServer> {
  const s = await startControlServer({ socketPath: path, group: 'users', handlers: fakeHandlers().handlers, log, version: 't', ...opts });
  servers.push(s);
  return s;
}

// Connects, says hello, prints the first line it gets back (or "ERR <code>").
const PROBE = `import net from 'node:net';
const s = net.connect(process.argv[2]);
s.on('connect', () => s.write(JSON.stringify({ id: 1, method: 'hello' }) + '\\n'));
let buf = '';
s.on('data', (d) => { buf += d; const i = buf.indexOf('\\n'); if (i >= 0) { console.log(buf.slice(0, i)); process.exit(0); } });
s.on('error', (e) => { console.log('ERR ' + e.code); process.exit(0); });
s.on('close', () => { console.log('CLOSED ' + buf); process.exit(0); });
`;

/** Runs the probe as `nobody` with the given primary group and supplementary groups. */
async function probeAs(path: string, regid: string, extraGroups: string[] = []): Promise<string> {
  const groupsArg = extraGroups.length ? [`--groups=${extraGroups.join(',')}`] : ['--clear-groups'];
  const { stdout } = await execFileP('setpriv', ['--reuid=nobody', `--regid=${regid}`, ...groupsArg, process.execPath, join(dir, 'probe.mjs'), path], { timeout: 10_000 });
  return stdout.trim();
}

describe.skipIf(!isRoot)('the socket file', () => {
  it('creates the directory 0755 and the socket 0660 root:GROUP', async () => {
    const path = socketPath();
    await start(path);
    const d = await stat(join(path, '..')), f = await stat(path);
    expect([d.mode & 0o777, f.isSocket(), f.mode & 0o777, f.uid, f.gid]).toEqual([0o755, true, 0o660, 0, USERS]);
  });

  it('makes the socket 0600 and logs it when the group does not exist', async () => {
    const path = socketPath();
    await start(path, { group: 'sy-no-such-group' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(logs.some((l) => l.includes('group "sy-no-such-group" does not exist; the socket is root-only (0600)'))).toBe(true);
  });

  it('replaces a stale socket left by a killed service', async () => {
    const path = socketPath();
    await mkdir(join(path, '..'), { recursive: true });
    // A process that binds the path and is killed -9: the file stays, nobody listens (ECONNREFUSED).
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await new Promise((r) => child.on('exit', r));
    expect((await stat(path)).isSocket()).toBe(true);
    const s = await start(path);
    expect(logs.some((l) => l.includes('removing a stale socket'))).toBe(true);
    expect(s.stats().clients).toBe(0);
    expect(await probeAsRoot(path)).toMatch(/"protocolVersion":1/);
  });

  it('refuses to start while another service listens on the socket, and leaves it working', async () => {
    const path = socketPath();
    await start(path);
    await expect(startControlServer({ socketPath: path, group: 'users', handlers: fakeHandlers().handlers, log, version: 't' }))
      .rejects.toThrow(`another switchyard service is already listening on ${path}`);
    expect(await probeAsRoot(path)).toMatch(/"protocolVersion":1/);
  });

  it('refuses to replace a file that is not a socket', async () => {
    const path = socketPath();
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, 'keep me');
    await expect(start(path)).rejects.toThrow(`${path} exists and is not a socket; refusing to replace it`);
  });

  it('removes its socket on close', async () => {
    const path = socketPath();
    const s = await start(path);
    await s.close();
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

async function probeAsRoot(path: string): Promise<string> {
  const { stdout } = await execFileP(process.execPath, [join(dir, 'probe.mjs'), path], { timeout: 10_000 });
  return stdout.trim();
}

describe.skipIf(!canDropPrivileges)('peer credentials (SO_PEERCRED)', () => {
  it('lets root in', async () => {
    const path = socketPath();
    await start(path);
    expect(await probeAsRoot(path)).toMatch(/^\{"id":1,"result":\{"protocolVersion":1/);
  });

  it('keeps a user outside the group out by the file mode (EACCES)', async () => {
    const path = socketPath();
    await start(path);
    expect(await probeAs(path, 'nogroup')).toBe('ERR EACCES');
  });

  it('answers FORBIDDEN to a user outside the group when the file mode lets it connect', async () => {
    const path = socketPath();
    await start(path, { socketMode: 0o666 });
    const line = await probeAs(path, 'nogroup');
    expect(JSON.parse(line)).toEqual({ id: null, error: { code: 'FORBIDDEN', message: 'user nobody is not in group users' } });
    expect(logs.some((l) => /refused a client .*uid 65534 \(nobody\)/.test(l))).toBe(true);
  });

  it('lets in a user whose primary group is the allowed group', async () => {
    const path = socketPath();
    await start(path);
    expect(await probeAs(path, 'users')).toMatch(/^\{"id":1,"result":\{"protocolVersion":1/);
  });

  it('lets in a user with the allowed group among its supplementary groups (read from /proc)', async () => {
    const path = socketPath();
    await start(path);
    expect(await probeAs(path, 'nogroup', [String(USERS)])).toMatch(/^\{"id":1,"result":\{"protocolVersion":1/);
    expect(logs.some((l) => l.includes('member of users (proc)'))).toBe(true);
  });

  it('allows a different configured group (nogroup) and then refuses `users`', async () => {
    const path = socketPath();
    await start(path, { group: 'nogroup', socketMode: 0o666 });
    expect(await probeAs(path, 'nogroup')).toMatch(/"protocolVersion":1/);
    expect(JSON.parse(await probeAs(path, 'users'))).toMatchObject({ error: { code: 'FORBIDDEN', message: 'user nobody is not in group nogroup' } });
  });
});
