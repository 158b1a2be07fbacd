// The pure parts of app/control: access decisions and the files they read, line framing, the
// sessions query, pipe names, and the client's connection error messages.
import { describe, expect, it } from 'vitest';
import { decideAccess, groupId, parseGroupFile, parsePasswdFile, parseProcStatus, peerFacts, type AccessPolicy } from '../../../app/control/access.js';
import { LineSplitter } from '../../../app/control/framing.js';
import { querySessions, querySessionsOf } from '../../../app/control/session-query.js';
import { pipePath } from '../../../app/control/pipe-transport.js';
import { connectError } from '../../../app/control/client.js';
import { METHODS } from '../../../app/protocol/index.js';
import { session } from './fakes.js';

const GROUP = 'root:x:0:\nusers:x:100:alice,bob\nswitchyard:x:998:carol\n# comment\nbroken line\n';
const PASSWD = 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\ncarol:x:1002:1002::/home/carol:/bin/sh\n';
const POLICY: AccessPolicy = { groupName: 'switchyard', gid: 998, serviceUid: 0 };

describe('access', () => {
  it('parses /etc/group, /etc/passwd and /proc/PID/status', () => {
    expect(parseGroupFile(GROUP)).toEqual([
      { name: 'root', gid: 0, members: [] }, { name: 'users', gid: 100, members: ['alice', 'bob'] }, { name: 'switchyard', gid: 998, members: ['carol'] },
    ]);
    expect(groupId(GROUP, 'switchyard')).toBe(998);
    expect(groupId(GROUP, 'nope')).toBeNull();
    expect(parsePasswdFile(PASSWD).map((u) => u.name)).toEqual(['root', 'alice', 'carol']);
    expect(parseProcStatus('Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\nGroups:\t24 998 \n')).toEqual({ uid: 1000, groups: [24, 998] });
    expect(parseProcStatus('Uid:\t5\t5\t5\t5\nGroups:\t\n')).toEqual({ uid: 5, groups: [] });
    expect(parseProcStatus('nothing')).toBeNull();
  });

  const facts = (over: object) => ({ uid: 1000, gid: 1000, pid: 1, groups: [], groupsFrom: 'proc' as const, user: 'alice', ...over });
  it.each([
    ['root', facts({ uid: 0, user: 'root' }), true],
    ['the service\'s own user', facts({ uid: 4242 }), false],
    ['primary group', facts({ gid: 998 }), true],
    ['supplementary group', facts({ groups: [24, 998] }), true],
    ['another user', facts({ groups: [100] }), false],
  ])('%s', (_, peer, allowed) => {
    expect(decideAccess(peer, POLICY).allowed).toBe(allowed);
  });

  it('names the user and the group when refusing, and says when the group is missing', () => {
    expect(decideAccess(facts({}), POLICY)).toEqual({ allowed: false, message: 'user alice is not in group switchyard' });
    expect(decideAccess(facts({ gid: 998 }), { ...POLICY, gid: null })).toMatchObject({ allowed: false, message: expect.stringContaining('does not exist') });
    expect(decideAccess(facts({ uid: 7 }), { ...POLICY, serviceUid: 7 }).allowed).toBe(true);
  });

  it('reads groups from /proc when its uid matches, else from /etc/group', () => {
    const files: Record<string, string> = { '/etc/group': GROUP, '/etc/passwd': PASSWD, '/proc/55/status': 'Uid:\t1002\t1002\t1002\t1002\nGroups:\t998\n', '/proc/66/status': 'Uid:\t0\t0\t0\t0\nGroups:\t998\n' };
    const read = (p: string) => files[p] ?? null;
    expect(peerFacts({ uid: 1002, gid: 1002, pid: 55 }, read)).toMatchObject({ user: 'carol', groups: [998], groupsFrom: 'proc' });
    // pid 66 now belongs to root (a recycled pid): its groups are not lent to uid 1000.
    expect(peerFacts({ uid: 1000, gid: 1000, pid: 66 }, read)).toMatchObject({ user: 'alice', groups: [100], groupsFrom: 'group-file' });
    expect(peerFacts({ uid: 31337, gid: 1, pid: 0 }, read)).toMatchObject({ user: '31337', groups: [] });
  });
});

describe('LineSplitter', () => {
  function split(max: number, chunks: string[]) {
    const lines: string[] = [];
    let tooLarge = 0;
    const s = new LineSplitter(max, (l) => lines.push(l), () => tooLarge++);
    for (const c of chunks) s.push(Buffer.from(c));
    return { lines, tooLarge, buffered: s.buffered };
  }

  it('splits across chunks, strips \\r, skips empty lines', () => {
    expect(split(100, ['{"a"', ':1}\n\n{"b":2}\r\n{"c', '"'])).toEqual({ lines: ['{"a":1}', '{"b":2}'], tooLarge: 0, buffered: 4 });
  });

  it('reports a line over the limit once and drops everything after it', () => {
    expect(split(8, ['12345678\n', '123456789\nok\n'])).toEqual({ lines: ['12345678'], tooLarge: 1, buffered: 0 });
    expect(split(8, ['12345', '6789', 'more\n'])).toEqual({ lines: [], tooLarge: 1, buffered: 0 });
  });

  it('never holds more than the limit of an unfinished line', () => {
    const s = new LineSplitter(1024, () => {}, () => {});
    let peak = 0;
    for (let i = 0; i < 100; i++) { s.push(Buffer.alloc(100, 0x61)); peak = Math.max(peak, s.buffered); }
    expect([peak <= 1024, s.dead]).toEqual([true, true]);
  });
});

describe('querySessions', () => {
  const all = [
    session(1),
    session(2, { protocol: 'udp', dst: '1.1.1.1', dstPort: 53, bytesIn: 99_999, state: 'established' }),
    session(3, { app: { kind: 'unknown', reason: 'process exited' }, device: { address: '192.168.1.33', hostname: 'phone', local: false }, state: 'connecting' }),
    session(4, { family: 6, src: 'fd00::5', dst: '2606:4700::1111', app: { kind: 'process', pid: 9, name: 'firefox', exe: '/usr/lib/firefox/firefox', cmdline: [], uid: 1001, user: 'bob' } }),
  ];
  const q = (p: object) => querySessions(all, METHODS['sessions.list'].params.parse(p)).sessions.map((s) => s.id);

  it.each([
    [{}, [1, 2, 3, 4]],
    [{ filter: { protocol: 'udp' } }, [2]],
    [{ filter: { state: 'connecting' } }, [3]],
    [{ filter: { app: 'CURL' } }, [1, 2]],
    [{ filter: { app: 'firefox/firefox' } }, [4]],
    [{ filter: { app: 'unknown' } }, [3]],
    [{ filter: { device: 'phone' } }, [3]],
    [{ filter: { device: 'local' } }, [1, 2, 4]],
    [{ filter: { text: '1.1.1.1:53' } }, [2]],
    [{ filter: { text: '[2606:4700::1111]:443' } }, [4]],
    [{ filter: { text: 'bob' } }, [4]],
    [{ sort: { field: 'bytesIn', order: 'desc' } }, [2, 4, 3, 1]],
    [{ sort: { field: 'app' } }, [1, 2, 4, 3]],
    [{ offset: 1, limit: 2 }, [2, 3]],
  ])('%j -> %j', (params, ids) => {
    expect(q(params)).toEqual(ids);
  });

  it('reports the total before paging', () => {
    expect(querySessions(all, METHODS['sessions.list'].params.parse({ limit: 1, offset: 1 }))).toMatchObject({ total: 4, offset: 1 });
  });

  it('querySessionsOf (items converted only for the page) answers exactly as querySessions', () => {
    // Items that are not wire sessions: the conversion counts how often it runs.
    const many = Array.from({ length: 60 }, (_, i) => session(i + 1, { bytesIn: (i * 37) % 11, bytesOut: i % 3, lastSeen: 1000 + (i % 7), state: i % 4 === 0 ? 'connecting' : 'established' }));
    const items = many.map((w) => ({ w }));
    let converted = 0;
    const wire = (x: { w: (typeof many)[number] }) => { converted++; return x.w; };
    const direct = { id: (x: { w: (typeof many)[number] }) => x.w.id, bytesIn: (x: { w: (typeof many)[number] }) => x.w.bytesIn, bytes: (x: { w: (typeof many)[number] }) => x.w.bytesIn + x.w.bytesOut, lastSeen: (x: { w: (typeof many)[number] }) => x.w.lastSeen };
    const cases: object[] = [
      {}, { sort: { field: 'bytesIn', order: 'desc' } }, { sort: { field: 'bytes' }, offset: 7, limit: 9 },
      { sort: { field: 'lastSeen', order: 'desc' }, limit: 5 }, { sort: { field: 'app' } }, { filter: { state: 'connecting' }, sort: { field: 'bytesIn' } },
      { offset: 100 },
    ];
    for (const c of cases) {
      const params = METHODS['sessions.list'].params.parse(c);
      converted = 0;
      const got = querySessionsOf(items, params, wire, direct);
      expect(got, JSON.stringify(c)).toEqual(querySessions(many, params));
      const pageOnly = !('filter' in c) && !JSON.stringify(c).includes('"app"');
      if (pageOnly) expect(converted, JSON.stringify(c)).toBe(got.sessions.length);
    }
  });
});

describe('pipePath', () => {
  it('derives the Windows pipe path and rejects bad names', () => {
    expect(pipePath('switchyard')).toBe('\\\\.\\pipe\\switchyard');
    expect(pipePath('\\\\.\\pipe\\sy-test')).toBe('\\\\.\\pipe\\sy-test');
    expect(() => pipePath('a\\b')).toThrow(/not a valid pipe name/);
    expect(() => pipePath('')).toThrow(/not a valid pipe name/);
  });
});

describe('connectError', () => {
  const err = (code: string) => Object.assign(new Error(code), { code });
  it.each([
    ['ENOENT', 'UNAVAILABLE', 'the Switchyard service is not running (no socket at /run/sy.sock); is the service running? (switchyard up)'],
    ['ECONNREFUSED', 'UNAVAILABLE', 'the Switchyard service is not running (nothing listens on /run/sy.sock); is the service running? (switchyard up)'],
    ['EACCES', 'FORBIDDEN', expect.stringMatching(/^permission denied on \/run\/sy\.sock: only root and members of the service's group \(default "switchyard"\)/)],
  ])('%s -> %s', (errno, code, message) => {
    expect(connectError('/run/sy.sock', err(errno))).toMatchObject({ code, message });
  });
});
