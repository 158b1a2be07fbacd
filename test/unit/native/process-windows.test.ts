// Pure parts of the Windows resolver (native/process/windows-tables.ts): owner-PID tables as
// GetExtendedTcpTable / GetExtendedUdpTable fill them, written byte by byte (DWORDs little-endian,
// addresses and ports in network order, a port DWORD's low 16 bits only).
import { describe, expect, it } from 'vitest';
import { findOwnerPid, imageName, parseTcpTable, parseUdpTable } from '../../../native/process/windows-tables.js';

const hex = (s: string) => Uint8Array.from(s.replace(/#[^\n]*|\s+/g, '').match(/../g)!.map((b) => parseInt(b, 16)));
const ip = (...b: number[]) => Uint8Array.from(b);

// MIB_TCPTABLE_OWNER_PID with two rows: a listener and a SYN_SENT connection.
const TCP4 = hex(`
  02000000   # dwNumEntries 2
  02000000   # row 0 dwState LISTEN
  00000000   #   dwLocalAddr 0.0.0.0
  1f90 0000  #   dwLocalPort 8080 (network order in the low 16 bits; high bytes garbage-free)
  00000000   #   dwRemoteAddr
  0000 0000  #   dwRemotePort
  e8030000   #   dwOwningPid 1000
  03000000   # row 1 dwState SYN_SENT
  c6120001   #   dwLocalAddr 198.18.0.1
  9c40 0000  #   dwLocalPort 40000
  5db8d822   #   dwRemoteAddr 93.184.216.34
  01bb 0000  #   dwRemotePort 443
  d2040000   #   dwOwningPid 1234
`);

// MIB_TCP6TABLE_OWNER_PID with one established row.
const TCP6 = hex(`
  01000000                           # dwNumEntries 1
  fd005359000000000000000000000001   # ucLocalAddr fd00:5359::1
  00000000                           # dwLocalScopeId
  c350 0000                          # dwLocalPort 50000
  20010db8000000000000000000000002   # ucRemoteAddr 2001:db8::2
  00000000                           # dwRemoteScopeId
  0050 0000                          # dwRemotePort 80
  05000000                           # dwState ESTAB
  39300000                           # dwOwningPid 12345
`);

// MIB_UDPTABLE_OWNER_PID: a wildcard bind and an exact bind on the same port (SO_REUSEADDR).
const UDP4 = hex(`
  02000000                           # dwNumEntries 2
  00000000 14e9 0000 64000000        # 0.0.0.0:5353 pid 100
  c6120001 14e9 0000 c8000000        # 198.18.0.1:5353 pid 200
`);

// MIB_UDP6TABLE_OWNER_PID: one row.
const UDP6 = hex(`
  01000000                           # dwNumEntries 1
  00000000000000000000000000000000   # ucLocalAddr ::
  00000000                           # dwLocalScopeId
  0035 0000                          # dwLocalPort 53
  2c010000                           # dwOwningPid 300
`);

describe('Windows owner-PID tables', () => {
  it('parses IPv4 TCP rows with network-order ports', () => {
    const rows = parseTcpTable(TCP4, 4);
    expect(rows).toHaveLength(2);
    expect(rows[1]).toEqual({ family: 4, state: 3, local: ip(198, 18, 0, 1), localPort: 40000, remote: ip(93, 184, 216, 34), remotePort: 443, pid: 1234 });
    expect(rows[0]).toMatchObject({ state: 2, localPort: 8080, pid: 1000 });
  });

  it('parses IPv6 TCP rows (56 bytes, state and pid last)', () => {
    const [row] = parseTcpTable(TCP6, 6);
    expect(row).toMatchObject({ family: 6, state: 5, localPort: 50000, remotePort: 80, pid: 12345 });
    expect(row!.local[0]).toBe(0xfd);
  });

  it('parses UDP rows for both families', () => {
    expect(parseUdpTable(UDP4, 4).map((r) => [r.localPort, r.pid])).toEqual([[5353, 100], [5353, 200]]);
    expect(parseUdpTable(UDP6, 6)).toEqual([{ family: 6, state: 0, local: new Uint8Array(16), localPort: 53, remote: new Uint8Array(16), remotePort: 0, pid: 300 }]);
  });

  it('never reads past the buffer when dwNumEntries lies', () => {
    const short = TCP4.slice(0, 4 + 24 + 10);
    expect(parseTcpTable(short, 4)).toHaveLength(1);
    expect(parseTcpTable(new Uint8Array(2), 4)).toEqual([]);
  });

  it('matches TCP on the exact 4-tuple, skipping listeners', () => {
    const rows = parseTcpTable(TCP4, 4);
    expect(findOwnerPid(rows, 'tcp', ip(198, 18, 0, 1), 40000, ip(93, 184, 216, 34), 443)).toBe(1234);
    expect(findOwnerPid(rows, 'tcp', ip(198, 18, 0, 1), 40000, ip(93, 184, 216, 35), 443)).toBeNull();
    expect(findOwnerPid(rows, 'tcp', ip(198, 18, 0, 1), 8080, ip(1, 2, 3, 4), 5)).toBeNull();
  });

  it('matches UDP on the local end: exact bind before the wildcard', () => {
    const rows = parseUdpTable(UDP4, 4);
    expect(findOwnerPid(rows, 'udp', ip(198, 18, 0, 1), 5353, ip(8, 8, 8, 8), 53)).toBe(200);
    expect(findOwnerPid(rows, 'udp', ip(10, 0, 0, 1), 5353, ip(8, 8, 8, 8), 53)).toBe(100);
    expect(findOwnerPid(rows, 'udp', ip(10, 0, 0, 1), 5354, ip(8, 8, 8, 8), 53)).toBeNull();
  });

  it('names an image by its file name', () => {
    expect(imageName('C:\\Program Files\\Mozilla Firefox\\firefox.exe')).toBe('firefox.exe');
    expect(imageName('')).toBe('');
  });
});
