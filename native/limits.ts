// native — process resource limits. Every relayed TCP session holds two sockets and every UDP app
// endpoint one, so the default soft limit on open files (often 1024) would cap the service far
// below limits.maxSessions. The service raises RLIMIT_NOFILE at start (root may raise the hard
// limit too, up to fs.nr_open).
import { readFileSync } from 'node:fs';
import koffi from 'koffi';

const RLIMIT_NOFILE = 7;

let calls: { get: (r: number, out: Buffer) => number; set: (r: number, v: Buffer) => number } | undefined;

function libcCalls(): NonNullable<typeof calls> {
  if (calls) return calls;
  const lib = koffi.load('libc.so.6');
  const get = lib.func('int getrlimit(int resource, _Out_ uint8_t *rlim)');
  const set = lib.func('int setrlimit(int resource, const uint8_t *rlim)');
  calls = { get: (r, out) => get(r, out) as number, set: (r, v) => set(r, v) as number };
  return calls;
}

/**
 * Raises the open-file limit to at least `wanted` (bounded by fs.nr_open) where the OS allows;
 * returns the soft limit in force afterwards. Linux only; elsewhere returns -1 and changes nothing.
 */
export function raiseOpenFileLimit(wanted: number): number {
  if (process.platform !== 'linux') return -1;
  const c = libcCalls();
  const rl = Buffer.alloc(16); // struct rlimit { rlim_t cur, max } — two u64 on 64-bit Linux
  if (c.get(RLIMIT_NOFILE, rl) !== 0) return -1;
  const cur = Number(rl.readBigUInt64LE(0)), max = Number(rl.readBigUInt64LE(8));
  if (cur >= wanted) return cur;
  let nrOpen = 1048576;
  try { nrOpen = Number(readFileSync('/proc/sys/fs/nr_open', 'utf8').trim()) || nrOpen; } catch { /* default */ }
  const target = Math.min(wanted, nrOpen);
  for (const [newCur, newMax] of [[target, Math.max(max, target)], [Math.min(target, max), max]] as const) {
    rl.writeBigUInt64LE(BigInt(newCur), 0);
    rl.writeBigUInt64LE(BigInt(newMax), 8);
    if (c.set(RLIMIT_NOFILE, rl) === 0) return newCur;
  }
  return cur;
}
