// Pure parts of the macOS resolver (native/process/macos-structs.ts): libproc structs from
// <sys/proc_info.h> built field by field at their offsets (little-endian), KERN_PROCARGS2, matching.
import { describe, expect, it } from 'vitest';
import {
  DARWIN_AF_INET, DARWIN_AF_INET6, INI_IPV4, INI_IPV6, SOCKET_FDINFO_LEN, SOCKINFO_IN, SOCKINFO_TCP,
  matchScore, parseBsdInfo, parseFdList, parseProcArgs2, parseSocketFdInfo,
} from '../../../native/process/macos-structs.js';

const ip = (...b: number[]) => Uint8Array.from(b);

/** A socket_fdinfo with the fields the parser reads; everything else is garbage (0xAA). */
function socketFdInfo(f: { family: number; protocol: number; kind: number; vflag: number; lport: number; fport: number; laddr: Uint8Array; faddr: Uint8Array; tcpState?: number }): Uint8Array {
  const b = new Uint8Array(SOCKET_FDINFO_LEN).fill(0xaa);
  const v = new DataView(b.buffer);
  v.setInt32(24 + 156, f.protocol, true);  // psi.soi_protocol
  v.setInt32(24 + 160, f.family, true);    // psi.soi_family
  v.setInt32(24 + 232, f.kind, true);      // psi.soi_kind
  const p = 264;                            // psi.soi_proto.pri_in (in_sockinfo)
  v.setInt32(p + 0, 0, true); v.setUint16(p + 0, f.fport, false);   // insi_fport: [hi, lo, 0, 0]
  v.setInt32(p + 4, 0, true); v.setUint16(p + 4, f.lport, false);   // insi_lport
  b[p + 24] = f.vflag;                                               // insi_vflag
  const put = (off: number, a: Uint8Array) => { b.fill(0, off, off + 16); b.set(a, a.length === 4 ? off + 12 : off); };
  put(p + 32, f.faddr);                                              // insi_faddr (in4in6: v4 in the last 4)
  put(p + 48, f.laddr);                                              // insi_laddr
  if (f.tcpState !== undefined) v.setInt32(p + 80, f.tcpState, true); // tcpsi_state after in_sockinfo (80 B)
  return b;
}

describe('macOS libproc structs', () => {
  it('decodes PROC_PIDLISTFDS entries (int32 fd, uint32 type)', () => {
    const b = Uint8Array.from([3, 0, 0, 0, 1, 0, 0, 0, /* fd 3 vnode */ 7, 0, 0, 0, 2, 0, 0, 0 /* fd 7 socket */, 0xff]);
    expect(parseFdList(b, 16)).toEqual([{ fd: 3, type: 1 }, { fd: 7, type: 2 }]);
  });

  it('decodes an IPv4 TCP socket_fdinfo (ports in network order, address in the in4in6 tail)', () => {
    const s = parseSocketFdInfo(socketFdInfo({ family: DARWIN_AF_INET, protocol: 6, kind: SOCKINFO_TCP, vflag: INI_IPV4, lport: 40000, fport: 443, laddr: ip(198, 18, 0, 1), faddr: ip(93, 184, 216, 34), tcpState: 2 }));
    expect(s).toEqual({ family: 4, protocol: 6, tcpState: 2, local: ip(198, 18, 0, 1), localPort: 40000, remote: ip(93, 184, 216, 34), remotePort: 443 });
  });

  it('decodes an IPv6 UDP socket and a dual-stack socket carrying IPv4', () => {
    const v6 = ip(0xfd, 0, 0x53, 0x59, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
    const s6 = parseSocketFdInfo(socketFdInfo({ family: DARWIN_AF_INET6, protocol: 17, kind: SOCKINFO_IN, vflag: INI_IPV6, lport: 5353, fport: 0, laddr: v6, faddr: new Uint8Array(16) }));
    expect(s6).toMatchObject({ family: 6, tcpState: -1, local: v6, localPort: 5353, remotePort: 0 });
    const dual = parseSocketFdInfo(socketFdInfo({ family: DARWIN_AF_INET6, protocol: 17, kind: SOCKINFO_IN, vflag: INI_IPV4 | INI_IPV6, lport: 5000, fport: 53, laddr: ip(10, 0, 0, 5), faddr: ip(9, 9, 9, 9) }));
    expect(dual).toMatchObject({ family: 4, local: ip(10, 0, 0, 5), remote: ip(9, 9, 9, 9) });
  });

  it('ignores non-internet sockets and short buffers', () => {
    expect(parseSocketFdInfo(socketFdInfo({ family: 1, protocol: 0, kind: 3, vflag: 0, lport: 0, fport: 0, laddr: ip(0, 0, 0, 0), faddr: ip(0, 0, 0, 0) }))).toBeNull();
    expect(parseSocketFdInfo(new Uint8Array(100))).toBeNull();
  });

  it('decodes proc_bsdinfo: uid, comm, name, start time', () => {
    const b = new Uint8Array(136);
    const v = new DataView(b.buffer);
    v.setUint32(20, 501, true);                       // pbi_uid
    b.set(Buffer.from('curl'), 48);                   // pbi_comm[16]
    b.set(Buffer.from('curl'), 64);                   // pbi_name[32]
    v.setBigUint64(120, 1_700_000_000n, true);        // pbi_start_tvsec
    v.setBigUint64(128, 42n, true);                   // pbi_start_tvusec
    expect(parseBsdInfo(b)).toEqual({ uid: 501, comm: 'curl', name: 'curl', startSec: 1_700_000_000, startUsec: 42 });
  });

  it('decodes KERN_PROCARGS2: argc, exec path, padding, argv, then the environment', () => {
    const body = Buffer.concat([Buffer.from([3, 0, 0, 0]), Buffer.from('/usr/bin/curl\0\0\0\0curl\0-s\0http://x/\0PATH=/bin\0')]);
    expect(parseProcArgs2(body, body.length)).toEqual({ exe: '/usr/bin/curl', argv: ['curl', '-s', 'http://x/'] });
    expect(parseProcArgs2(body, 2)).toBeNull();
  });

  it('scores exact 4-tuples above bound UDP sockets above wildcard binds; listeners never match', () => {
    const tcp = { family: 4 as const, protocol: 6, tcpState: 4, local: ip(10, 0, 0, 5), localPort: 40000, remote: ip(1, 1, 1, 1), remotePort: 443 };
    expect(matchScore(tcp, 'tcp', ip(10, 0, 0, 5), 40000, ip(1, 1, 1, 1), 443)).toBe(3);
    expect(matchScore({ ...tcp, tcpState: 1 }, 'tcp', ip(10, 0, 0, 5), 40000, ip(1, 1, 1, 1), 443)).toBe(0);
    const udp = { family: 4 as const, protocol: 17, tcpState: -1, local: ip(0, 0, 0, 0), localPort: 5000, remote: ip(0, 0, 0, 0), remotePort: 0 };
    expect(matchScore(udp, 'udp', ip(10, 0, 0, 5), 5000, ip(9, 9, 9, 9), 53)).toBe(1);
    expect(matchScore({ ...udp, local: ip(10, 0, 0, 5) }, 'udp', ip(10, 0, 0, 5), 5000, ip(9, 9, 9, 9), 53)).toBe(2);
    expect(matchScore(udp, 'tcp', ip(10, 0, 0, 5), 5000, ip(9, 9, 9, 9), 53)).toBe(0);
  });
});
