// Pure parts of the Linux process resolver (native/process/linux-parse.ts): sock_diag request and
// reply bytes, /proc/net lines, matching a flow against sockets, /proc/PID files and /etc/passwd.
// Fixtures are written byte by byte with a comment per field; little-endian host unless stated.
import { describe, expect, it } from 'vitest';
import {
  buildInetDiagRequest, matchSocket, parseInetDiagReply, parsePasswd, parseProcNetAddress, parseProcNetLine,
  parseStatStartTime, parseStatusUid, socketInode, splitCmdline, type SocketEntry,
} from '../../../native/process/linux-parse.js';
import { PasswdUsers } from '../../../native/process/linux.js';
import { mkdtempSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const hex = (s: string) => Uint8Array.from(s.replace(/\s+|#[^\n]*/g, '').match(/../g)!.map((b) => parseInt(b, 16)));
const ip = (...b: number[]) => Uint8Array.from(b);

describe('buildInetDiagRequest', () => {
  it('lays out nlmsghdr + inet_diag_req_v2 for an exact IPv4 TCP lookup', () => {
    const req = buildInetDiagRequest({
      family: 4, protocol: 6, seq: 7, dump: false, states: 0xffffffff,
      src: ip(198, 18, 0, 1), srcPort: 40000, dst: ip(10, 0, 0, 2), dstPort: 443,
    }, true);
    expect(Buffer.from(req).toString('hex')).toBe(Buffer.from(hex(`
      48000000  # nlmsg_len 72 (host order)
      1400      # nlmsg_type SOCK_DIAG_BY_FAMILY (20)
      0100      # nlmsg_flags NLM_F_REQUEST (no DUMP: exact lookup)
      07000000  # nlmsg_seq 7
      00000000  # nlmsg_pid 0
      02 06 00 00         # sdiag_family AF_INET, sdiag_protocol TCP, idiag_ext 0, pad
      ffffffff            # idiag_states: all
      9c40 01bb           # idiag_sport 40000, idiag_dport 443 (network order)
      c6120001 000000000000000000000000   # idiag_src 198.18.0.1 (16-byte field)
      0a000002 000000000000000000000000   # idiag_dst 10.0.0.2
      00000000            # idiag_if
      ffffffff ffffffff   # idiag_cookie INET_DIAG_NOCOOKIE
    `)).toString('hex'));
  });

  it('adds a port-equality bytecode filter to a dump', () => {
    const z = new Uint8Array(16);
    const req = buildInetDiagRequest({ family: 6, protocol: 17, seq: 1, dump: true, states: 0xffffffff, src: z, srcPort: 0, dst: z, dstPort: 0, localPortFilter: 5353 }, true);
    expect(req.length).toBe(16 + 56 + 12);
    const v = new DataView(req.buffer);
    expect(v.getUint16(6, true)).toBe(0x301);               // REQUEST | DUMP
    expect(req[16]).toBe(10);                               // AF_INET6
    expect(Buffer.from(req.subarray(72)).toString('hex')).toBe(Buffer.from(hex(`
      0c00 0100   # nlattr len 12, type INET_DIAG_REQ_BYTECODE
      0b 08 0c00  # op S_EQ, yes +8 (accept), no +12 (reject)
      00 00 e914  # operand: port 5353 in host order
    `)).toString('hex'));
  });
});

// One SOCK_DIAG_BY_FAMILY message for a TCP socket in SYN_SENT, uid 65534, inode 123456.
const DIAG_MSG = `
  58000000 1400 0200 2a000000 00000000   # nlmsghdr: len 88, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, seq 42
  02 02 01 00                            # family AF_INET, state 2 (SYN_SENT), timer, retrans
  9c40 01bb                              # sport 40000, dport 443
  c6120001 000000000000000000000000      # src 198.18.0.1
  0a000002 000000000000000000000000      # dst 10.0.0.2
  00000000 11111111 22222222             # if, cookie
  00000000 00000000 00000000             # expires, rqueue, wqueue
  feff0000                               # uid 65534 (host order)
  40e20100                               # inode 123456 (host order)
`;

describe('parseInetDiagReply', () => {
  it('decodes a socket message followed by NLMSG_DONE', () => {
    const r = parseInetDiagReply(hex(DIAG_MSG + '14000000 0300 0200 2a000000 00000000 00000000'), 42, true);
    expect(r.done).toBe(true);
    expect(r.errno).toBe(0);
    expect(r.sockets).toEqual([{
      family: 4, state: 2, localAddress: ip(198, 18, 0, 1), localPort: 40000,
      remoteAddress: ip(10, 0, 0, 2), remotePort: 443, uid: 65534, inode: 123456,
    }]);
  });

  it('reports ENOENT from an NLMSG_ERROR (exact lookup of a closed socket)', () => {
    const r = parseInetDiagReply(hex(`
      24000000 0200 0000 2a000000 00000000   # nlmsghdr: len 36, NLMSG_ERROR, seq 42
      feffffff                               # error -2 (ENOENT)
      48000000 1400 0100 2a000000 00000000   # the request's header, echoed
    `), 42, true);
    expect(r).toMatchObject({ done: true, errno: 2, sockets: [] });
  });

  it('skips stale replies with another sequence number and stops at a truncated message', () => {
    const r = parseInetDiagReply(hex(DIAG_MSG + '58000000 1400 0200 2a000000'), 41, true);
    expect(r).toMatchObject({ sockets: [], skipped: 1, done: false });
  });
});

describe('/proc/net lines', () => {
  it('decodes host-order hex addresses (little-endian words)', () => {
    expect(parseProcNetAddress('0100007F', true)).toEqual(ip(127, 0, 0, 1));
    expect(parseProcNetAddress('7F000001', false)).toEqual(ip(127, 0, 0, 1));
    // fd00:5359::1 as four little-endian words
    expect(parseProcNetAddress('5953 00FD 00000000 00000000 01000000'.replace(/ /g, ''), true))
      .toEqual(ip(0xfd, 0x00, 0x53, 0x59, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
  });

  it('parses a /proc/net/tcp line and ignores the header', () => {
    expect(parseProcNetLine('  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode', true)).toBeNull();
    //        sl   local         remote        st  queues            tr tm->when    retrnsmt uid  timeout inode
    const line = '   3: 010012C6:9C40 0200000A:01BB 02 00000000:00000000 01:00000064 00000002 65534        0 123456 2 0000000000000000 100 0 0 10 -1';
    expect(parseProcNetLine(line, true)).toEqual({
      family: 4, state: 2, localAddress: ip(198, 18, 0, 1), localPort: 40000,
      remoteAddress: ip(10, 0, 0, 2), remotePort: 443, uid: 65534, inode: 123456,
    });
  });
});

describe('matchSocket', () => {
  const sock = (over: Partial<SocketEntry>): SocketEntry => ({
    family: 4, state: 7, localAddress: ip(0, 0, 0, 0), localPort: 5000, remoteAddress: ip(0, 0, 0, 0), remotePort: 0, uid: 0, inode: 1, ...over,
  });
  const tuple = { family: 4 as const, local: ip(198, 18, 0, 1), localPort: 5000, remote: ip(9, 9, 9, 9), remotePort: 53 };

  it('prefers the connected socket, then the exact bind, then the wildcard bind', () => {
    const wildcard = sock({ inode: 1 });
    const bound = sock({ inode: 2, localAddress: ip(198, 18, 0, 1) });
    const connected = sock({ inode: 3, state: 1, localAddress: ip(198, 18, 0, 1), remoteAddress: ip(9, 9, 9, 9), remotePort: 53 });
    expect(matchSocket([wildcard, bound, connected], tuple, true)?.inode).toBe(3);
    expect(matchSocket([wildcard, bound], tuple, true)?.inode).toBe(2);
    expect(matchSocket([wildcard], tuple, true)?.inode).toBe(1);
  });

  it('never matches a socket connected elsewhere, another bind address, TIME_WAIT, or unconnected TCP', () => {
    expect(matchSocket([sock({ remoteAddress: ip(8, 8, 8, 8), remotePort: 53 })], tuple, true)).toBeNull();
    expect(matchSocket([sock({ localAddress: ip(10, 0, 0, 1) })], tuple, true)).toBeNull();
    expect(matchSocket([sock({ inode: 0, state: 6, localAddress: ip(198, 18, 0, 1), remoteAddress: ip(9, 9, 9, 9), remotePort: 53 })], tuple, false)).toBeNull();
    expect(matchSocket([sock({ state: 10 })], tuple, false)).toBeNull();
  });

  it('matches an IPv4 flow against a dual-stack IPv6 socket (::ffff:a.b.c.d or ::)', () => {
    const mapped = sock({ family: 6, localAddress: Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1), remoteAddress: new Uint8Array(16) });
    expect(matchSocket([mapped], tuple, true)).toBe(mapped);
    const any6 = sock({ family: 6, localAddress: new Uint8Array(16), remoteAddress: new Uint8Array(16) });
    expect(matchSocket([any6], tuple, true)).toBe(any6);
  });
});

describe('/proc/PID files', () => {
  it('splits cmdline on NULs, drops the terminator, keeps empty arguments', () => {
    expect(splitCmdline(Buffer.from('curl\0-s\0\0http://x/\0'))).toEqual(['curl', '-s', '', 'http://x/']);
    expect(splitCmdline(Buffer.from(''))).toEqual([]);                                   // kernel thread
    expect(splitCmdline('nginx: worker process')).toEqual(['nginx: worker process']);    // setproctitle
  });

  it('takes the start time from field 22 even when comm holds spaces and parentheses', () => {
    const stat = '4242 (evil) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000000 200 18446744073709551615';
    expect(parseStatStartTime(stat)).toBe('987654');
  });

  it('reads the effective uid from status', () => {
    expect(parseStatusUid('Name:\tdig\nUid:\t1000\t65534\t65534\t65534\nGid:\t0\t0\t0\t0\n')).toBe(65534);
    expect(parseStatusUid('Name:\tx\n')).toBeNull();
  });

  it('recognises socket fd links', () => {
    expect(socketInode('socket:[123456]')).toBe(123456);
    expect(socketInode('/dev/null')).toBe(0);
    expect(socketInode('anon_inode:[eventpoll]')).toBe(0);
  });
});

describe('passwd', () => {
  it('maps uid to the first name, skipping comments, NIS lines and malformed rows', () => {
    const users = parsePasswd('# comment\nroot:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n+::::::\nbroken:x:notanumber:0::/:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n');
    expect([...users]).toEqual([[0, 'root'], [65534, 'nobody']]);
  });

  it('re-reads the file when a uid is missing and the file changed, else answers the uid as text', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-passwd-'));
    const file = join(dir, 'passwd');
    writeFileSync(file, 'root:x:0:0::/root:/bin/sh\n');
    const users = new PasswdUsers(file);
    expect(users.name(0)).toBe('root');
    expect(users.name(1234)).toBe('1234');
    writeFileSync(file, 'root:x:0:0::/root:/bin/sh\nalice:x:1234:1234::/home/alice:/bin/sh\n');
    utimesSync(file, new Date(), new Date(Date.now() + 5_000));
    expect(users.name(1234)).toBe('alice');
  });
});
