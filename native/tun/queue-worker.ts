// native/tun — a TUN queue worker: one thread per extra queue of a multi-queue TUN (linux.ts). It
// reads its queue, forwards established TCP sessions' packets itself through the engine's shared
// NAT table (app/engine/fast-path.ts: rewrite in place, write back to the TUN), and hands every other
// packet — SYNs, UDP, ICMP, unknown flows, fragments — to the engine on the main thread through a
// SOCK_SEQPACKET socketpair (one message = one packet, read there like a TUN read).
//
// Hot loop: read(2) → parse → table lookup → rewrite → write(2), all into one reused buffer; no
// allocation, string or exception per packet; counters in shared memory (the engine folds them at
// its sweep). The queue fd is non-blocking; the loop drains it and then waits in epoll_wait, whose
// timeout (WAIT_MS) bounds how long a stop request takes to be seen.
import { parentPort, workerData } from 'node:worker_threads';
import { PacketInfo, ParseStatus } from '../../app/wire/ip.js';
import { FastPath, T_FAST, T_FAST_BYTES, T_READ, T_READ_BYTES, T_SLOW, T_SLOW_DROPS, T_WRITE_ERRORS, type FastPathMemory } from '../../app/engine/fast-path.js';
import { EAGAIN, EINTR, EPOLL_CTL_ADD, EPOLL_EVENT_SIZE, EPOLLIN, O_CLOEXEC, relayLibc } from '../libc.js';

export interface QueueWorkerData {
  queueFd: number;
  /** This worker's end of the socketpair to the engine. */
  handoffFd: number;
  memory: FastPathMemory;
  reader: number;
  /** Int32 [stop]: the device sets it to 1 to end the loop. */
  control: SharedArrayBuffer;
}

export type QueueWorkerEvent = { op: 'ready' } | { op: 'fatal'; message: string } | { op: 'stopped' };

const WAIT_MS = 250;
/** Packets read per wake-up before checking the stop flag again. */
const BURST = 512;
/** As linux.ts READ_BUFFER: the largest super-packet + virtio-net header + slack. */
const MAX_PACKET = 65536 + 1024;
const EBADFD = 77;

const data = workerData as QueueWorkerData;
const post = (e: QueueWorkerEvent) => parentPort!.postMessage(e);

function run(): void {
  const sys = relayLibc();
  const fast = new FastPath(data.memory, data.reader);
  const totals = fast.totals;
  const info = new PacketInfo();
  const headroom = data.memory.headroom;
  const buf = Buffer.allocUnsafe(MAX_PACKET);
  const control = new Int32Array(data.control);
  const qfd = data.queueFd, hfd = data.handoffFd;
  const ep = sys.epollCreate1(O_CLOEXEC);
  if (ep < 0) { post({ op: 'fatal', message: `epoll_create1 failed: errno ${sys.errno()}` }); return; }
  const ev = Buffer.alloc(EPOLL_EVENT_SIZE);
  ev.writeUInt32LE(EPOLLIN, 0);
  if (sys.epollCtl(ep, EPOLL_CTL_ADD, qfd, ev) < 0) { post({ op: 'fatal', message: `epoll_ctl on the TUN queue failed: errno ${sys.errno()}` }); sys.close(ep); return; }
  const events = Buffer.alloc(EPOLL_EVENT_SIZE * 2);
  post({ op: 'ready' });
  while (Atomics.load(control, 0) === 0) {
    if (sys.epollWait(ep, events, 2, WAIT_MS) < 0) {
      const e = sys.errno();
      if (e !== EINTR) { post({ op: 'fatal', message: `epoll_wait failed: errno ${e}` }); break; }
    }
    let failed = 0;
    for (let i = 0; i < BURST; i++) {
      const n = sys.read(qfd, buf, MAX_PACKET);
      if (n <= 0) {
        if (n < 0) { const e = sys.errno(); if (e !== EAGAIN && e !== EINTR) failed = e; }
        break;
      }
      totals[T_READ]!++;
      totals[T_READ_BYTES] += n;
      if (info.parse(buf, headroom, n) === ParseStatus.OK && fast.forward(buf, info)) {
        if (sys.write(qfd, buf, n) < 0) totals[T_WRITE_ERRORS]!++;
        else { totals[T_FAST]!++; totals[T_FAST_BYTES] += n; }
      } else if (sys.write(hfd, buf, n) < 0) {
        totals[T_SLOW_DROPS]!++;
      } else {
        totals[T_SLOW]!++;
      }
    }
    if (failed !== 0) {
      post({ op: 'fatal', message: failed === EBADFD ? 'the TUN device went away (link deleted?)' : `read from the TUN queue failed: errno ${failed}` });
      break;
    }
  }
  sys.close(ep);
  post({ op: 'stopped' });
}

run();
