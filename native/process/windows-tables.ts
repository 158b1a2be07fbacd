// native/process — the pure half of the Windows resolver: parsing the tables GetExtendedTcpTable /
// GetExtendedUdpTable fill in (iphlpapi, tcpmib.h / udpmib.h) and matching a flow against them.
// No I/O: native/process/windows.ts makes the calls; test/unit/native/process-windows.test.ts
// feeds hand-made tables.
//
// Layouts (all DWORDs little-endian, the table's dwNumEntries first, rows from offset 4):
//   MIB_TCPROW_OWNER_PID   24 B  dwState, dwLocalAddr, dwLocalPort, dwRemoteAddr, dwRemotePort, dwOwningPid
//   MIB_TCP6ROW_OWNER_PID  56 B  ucLocalAddr[16], dwLocalScopeId, dwLocalPort, ucRemoteAddr[16],
//                                dwRemoteScopeId, dwRemotePort, dwState, dwOwningPid
//   MIB_UDPROW_OWNER_PID   12 B  dwLocalAddr, dwLocalPort, dwOwningPid
//   MIB_UDP6ROW_OWNER_PID  28 B  ucLocalAddr[16], dwLocalScopeId, dwLocalPort, dwOwningPid
// Addresses are in network order (the bytes in memory are the address). A port is a DWORD whose
// low 16 bits hold the port in NETWORK order: in memory [hi, lo, 0, 0] — read the first two bytes
// big-endian, never the DWORD.

/** Row sizes and the table header size. */
export const TCP_ROW_LEN = 24, TCP6_ROW_LEN = 56, UDP_ROW_LEN = 12, UDP6_ROW_LEN = 28, TABLE_HEADER_LEN = 4;
/** MIB_TCP_STATE values. */
export const MIB_TCP_STATE_LISTEN = 2, MIB_TCP_STATE_SYN_SENT = 3, MIB_TCP_STATE_ESTAB = 5, MIB_TCP_STATE_TIME_WAIT = 11;

/** One row of an owner-PID table; UDP rows have no remote end (remotePort 0, remote all zeros). */
export interface OwnerRow {
  family: 4 | 6;
  /** MIB_TCP_STATE for TCP rows, 0 for UDP. */
  state: number;
  local: Uint8Array;
  localPort: number;
  remote: Uint8Array;
  remotePort: number;
  pid: number;
}

/** A port DWORD as the tables store it: the first two bytes, big-endian. */
export function portAt(view: DataView, offset: number): number {
  return view.getUint16(offset, false);
}

/** Parses a MIB_TCPTABLE_OWNER_PID / MIB_TCP6TABLE_OWNER_PID; rows past the buffer are ignored. */
export function parseTcpTable(buf: Uint8Array, family: 4 | 6): OwnerRow[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < TABLE_HEADER_LEN) return [];
  const n = v.getUint32(0, true);
  const rowLen = family === 4 ? TCP_ROW_LEN : TCP6_ROW_LEN;
  const rows: OwnerRow[] = [];
  for (let i = 0; i < n; i++) {
    const o = TABLE_HEADER_LEN + i * rowLen;
    if (o + rowLen > buf.length) break;
    if (family === 4) {
      rows.push({
        family, state: v.getUint32(o, true),
        local: buf.slice(o + 4, o + 8), localPort: portAt(v, o + 8),
        remote: buf.slice(o + 12, o + 16), remotePort: portAt(v, o + 16),
        pid: v.getUint32(o + 20, true),
      });
    } else {
      rows.push({
        family,
        local: buf.slice(o, o + 16), localPort: portAt(v, o + 20),
        remote: buf.slice(o + 24, o + 40), remotePort: portAt(v, o + 44),
        state: v.getUint32(o + 48, true), pid: v.getUint32(o + 52, true),
      });
    }
  }
  return rows;
}

/** Parses a MIB_UDPTABLE_OWNER_PID / MIB_UDP6TABLE_OWNER_PID. */
export function parseUdpTable(buf: Uint8Array, family: 4 | 6): OwnerRow[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < TABLE_HEADER_LEN) return [];
  const n = v.getUint32(0, true);
  const rowLen = family === 4 ? UDP_ROW_LEN : UDP6_ROW_LEN;
  const alen = family === 4 ? 4 : 16;
  const rows: OwnerRow[] = [];
  for (let i = 0; i < n; i++) {
    const o = TABLE_HEADER_LEN + i * rowLen;
    if (o + rowLen > buf.length) break;
    const local = buf.slice(o, o + alen);
    const portOff = family === 4 ? o + 4 : o + 20;
    const pidOff = family === 4 ? o + 8 : o + 24;
    rows.push({ family, state: 0, local, localPort: portAt(v, portOff), remote: new Uint8Array(alen), remotePort: 0, pid: v.getUint32(pidOff, true) });
  }
  return rows;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
const zero = (a: Uint8Array): boolean => a.every((b) => b === 0);

/**
 * The pid owning the flow (local = the app's end) among `rows`: TCP needs the exact 4-tuple (TIME_WAIT
 * rows, pid 0, never match); UDP rows only carry the local end, so the exact local address wins over
 * a wildcard (0.0.0.0 / ::) bind on the same port. Null when no row matches.
 */
export function findOwnerPid(rows: readonly OwnerRow[], protocol: 'tcp' | 'udp', local: Uint8Array, localPort: number, remote: Uint8Array, remotePort: number): number | null {
  let wildcard: number | null = null;
  for (const r of rows) {
    if (r.localPort !== localPort || r.pid === 0) continue;
    if (protocol === 'tcp') {
      if (r.state === MIB_TCP_STATE_LISTEN) continue;
      if (equal(r.local, local) && equal(r.remote, remote) && r.remotePort === remotePort) return r.pid;
    } else if (equal(r.local, local)) {
      return r.pid;
    } else if (zero(r.local) && wildcard === null) {
      wildcard = r.pid;
    }
  }
  return wildcard;
}

/** The file name of a Windows image path ("C:\\Program Files\\app.exe" → "app.exe"). */
export function imageName(path: string): string {
  const i = Math.max(path.lastIndexOf('\\'), path.lastIndexOf('/'));
  return i < 0 ? path : path.slice(i + 1);
}
