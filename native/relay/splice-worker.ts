// native/relay — the splice worker: one thread, one epoll loop, every relayed TCP pair. Bytes move
// socket → pipe → socket with splice(2) and never enter JavaScript; JS only sees readiness events and
// byte counts. Started by SpliceRelay (linux-splice.ts); message shapes in splice-protocol.ts.
//
//   socket A ──splice──▶ pipe ab ──splice──▶ socket B      (one pipe per direction, owned here)
//   socket A ◀──splice── pipe ba ◀──splice── socket B
//
// Invariants:
//  - The socket fds belong to Node sockets on the main thread: this thread never closes them. It stops
//    using them (EPOLL_CTL_DEL, pipes closed) before it posts `done`; after that the main thread closes
//    them, and the numbers may be reused at once.
//  - Edge-triggered epoll (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET per socket, registered once): a direction
//    is pumped until neither splice makes progress, so each stop is an EAGAIN on a socket that owes
//    us an edge, or EOF. A pump that hits its round budget is queued to run again after the next
//    non-blocking epoll_wait, so one fast pair cannot starve the others yet loses no edge.
//  - Backpressure is the kernel's: a direction never holds more than its pipe (pipeBytes).
//  - EOF (splice returns 0) on one side → shutdown(SHUT_WR) on the other once the pipe is empty;
//    ECONNRESET/EPIPE → the pair ends 'reset' (the main thread resets both sockets).
//  - Dialled outbounds (RelayDialer, see splice-protocol.ts): socket + bind + non-blocking connect here,
//    completion seen as EPOLLOUT (SO_ERROR says how it went), then the socket waits out of the epoll
//    set until `add` joins it or `abandon` closes it. This thread owns and closes those sockets.
//  - Events are batched: `post` queues, the loop flushes once per round (one structured clone and one
//    message event on the main thread per round instead of per ended pair).
//  - The loop blocks in epoll_wait; commands arrive on a MessagePort read with receiveMessageOnPort
//    after the main thread's eventfd fires. The wait has a timeout (WAIT_MS) so Worker termination
//    at process exit is never stuck behind a blocking call.
import { receiveMessageOnPort, workerData, parentPort } from 'node:worker_threads';
import {
  AF_INET, AF_INET6, EAGAIN, ECONNRESET, EINPROGRESS, EINTR, EPIPE, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_EVENT_DATA_OFFSET, EPOLL_EVENT_SIZE,
  EPOLLERR, EPOLLET, EPOLLIN, EPOLLOUT, EPOLLRDHUP, F_GETPIPE_SZ, F_SETPIPE_SZ, IP_BIND_ADDRESS_NO_PORT, IPPROTO_TCP, O_CLOEXEC, O_NONBLOCK,
  SHUT_WR, SO_ERROR, SO_LINGER, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOCKADDR_MAX, SOL_IP, SOL_SOCKET, SPLICE_F_MOVE, SPLICE_F_NONBLOCK,
  TCP_NODELAY, relayLibc, writeSockaddr,
} from '../libc.js';
import type { RelayEnd } from '../../app/os/relay.js';
import { COUNTER_SLOTS_PER_CHUNK, COUNTERS_PER_SLOT, DIALED, type SpliceCommand, type SpliceEvent, type SpliceWorkerData } from './splice-protocol.js';

const FLAGS = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
const MAX_EVENTS = 256;
/** Longest block in epoll_wait; bounds how long a terminating worker can take to notice. */
const WAIT_MS = 250;
/** Fill/drain rounds per direction per wake-up before yielding to other pairs (≈ rounds × pipe size). */
const ROUNDS = 16;
/** epoll data of the wake eventfd; pair tokens are id * 2 + side, far below this. */
const WAKE_TOKEN = 0xffffffff;
const SOCKET_EVENTS = (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) >>> 0;
/** A connecting socket waits for writability (connected) or an error. */
const DIAL_EVENTS = (EPOLLOUT | EPOLLET) >>> 0;

const data = workerData as SpliceWorkerData;
const sys = relayLibc();
let outbox: SpliceEvent[] = [];
const post = (e: SpliceEvent) => { outbox.push(e); };
/** Sends the queued events as one message. */
function flush(): void {
  if (outbox.length === 0) return;
  parentPort!.postMessage(outbox);
  outbox = [];
}

/** One direction: bytes read from `from`, parked in the pipe, written to `to`. */
class Direction {
  /** Bytes sitting in the pipe. */
  inPipe = 0;
  /** `from` reached EOF. */
  eof = false;
  /** EOF was forwarded: shutdown(to, SHUT_WR) done. */
  shut = false;
  /** The last pump stopped on its round budget, not on EAGAIN. */
  busy = false;
  constructor(
    readonly from: number, readonly to: number, readonly pipeR: number, readonly pipeW: number, readonly cap: number,
    readonly counters: Float64Array, readonly at: number,
  ) {}
}

class Pair {
  queued = false;
  constructor(readonly id: number, readonly fdA: number, readonly fdB: number, readonly ab: Direction, readonly ba: Direction, readonly ownsB: boolean) {}
}

/** A socket this thread dialled: connecting, or connected and waiting for its pair. */
class Dial {
  connecting = true;
  constructor(readonly fd: number) {}
}

const chunks: Float64Array[] = [];
const pairs: Array<Pair | undefined> = [];
const dials: Array<Dial | undefined> = [];
let again: Pair[] = [];
let spare: Pair[] = [];
const events = Buffer.alloc(MAX_EVENTS * EPOLL_EVENT_SIZE);
const ctlEvent = Buffer.alloc(EPOLL_EVENT_SIZE);
const pipeFds = new Int32Array(2);
const optVal = new Int32Array(1);
const optLen = new Int32Array(1);
const wakeBuf = Buffer.alloc(8);
const one = new Int32Array([1]);
/** struct linger { l_onoff = 1, l_linger = 0 }: close(2) sends a reset. */
const lingerReset = new Int32Array([1, 0]);
const sockaddr = Buffer.alloc(SOCKADDR_MAX);

/** Makes a non-blocking pipe and grows it to the requested size; returns its capacity or -errno. */
function makePipe(): number {
  if (sys.pipe2(pipeFds, O_NONBLOCK | O_CLOEXEC) < 0) return -sys.errno();
  let cap = data.pipeBytes > 0 ? sys.fcntlInt(pipeFds[1]!, F_SETPIPE_SZ, data.pipeBytes) : -1;
  // Over pipe-max-size or the per-user pipe budget (unprivileged): keep the default size.
  if (cap < 0) cap = sys.fcntlInt(pipeFds[1]!, F_GETPIPE_SZ, 0);
  return cap > 0 ? cap : 65536;
}

/** Moves what the kernel accepts; returns 0, or the errno that ends the pair. */
function pump(d: Direction): number {
  d.busy = false;
  if (d.shut) return 0;
  for (let round = 0; ; round++) {
    if (round === ROUNDS) { d.busy = true; break; }
    let progress = false;
    if (!d.eof && d.inPipe < d.cap) {
      const n = sys.splice(d.from, null, d.pipeW, null, d.cap - d.inPipe, FLAGS);
      if (n > 0) { d.inPipe += n; progress = true; }
      else if (n === 0) { d.eof = true; progress = true; }
      else { const e = sys.errno(); if (e !== EAGAIN && e !== EINTR) return e; }
    }
    if (d.inPipe > 0) {
      const n = sys.splice(d.pipeR, null, d.to, null, d.inPipe, FLAGS);
      if (n > 0) { d.inPipe -= n; d.counters[d.at] += n; progress = true; }
      else if (n < 0) { const e = sys.errno(); if (e !== EAGAIN && e !== EINTR) return e; }
    }
    if (!progress) break;
  }
  if (d.eof && d.inPipe === 0) {
    d.shut = true;
    sys.shutdown(d.to, SHUT_WR); // ENOTCONN after a reset is harmless: the reset path ends the pair
  }
  return 0;
}

function reasonOf(errno: number): RelayEnd {
  return errno === ECONNRESET || errno === EPIPE ? 'reset' : 'error';
}

/** Closes a socket this thread dialled; with a reset unless it ended cleanly. */
function closeOwned(fd: number, reset: boolean): void {
  if (reset) sys.setsockoptInt(fd, SOL_SOCKET, SO_LINGER, lingerReset, 8);
  sys.close(fd);
}

/** Stops using the pair's fds, closes its pipes (and the dialled side) and reports. */
function finish(p: Pair, reason: RelayEnd, errno: number): void {
  sys.epollCtl(epfd, EPOLL_CTL_DEL, p.fdA, null);
  sys.epollCtl(epfd, EPOLL_CTL_DEL, p.fdB, null);
  for (const d of [p.ab, p.ba]) { sys.close(d.pipeR); sys.close(d.pipeW); }
  if (p.ownsB) closeOwned(p.fdB, reason !== 'closed');
  pairs[p.id] = undefined;
  post({ op: 'done', id: p.id, reason, aToB: p.ab.counters[p.ab.at]!, bToA: p.ba.counters[p.ba.at]!, errno });
}

function service(p: Pair, fd: number, ev: number): void {
  if ((ev & EPOLLERR) !== 0) {
    optLen[0] = 4;
    if (sys.getsockoptInt(fd, SOL_SOCKET, SO_ERROR, optVal, optLen) === 0 && optVal[0] !== 0) { finish(p, reasonOf(optVal[0]!), optVal[0]!); return; }
  }
  let e = pump(p.ab);
  if (e === 0) e = pump(p.ba);
  if (e !== 0) { finish(p, reasonOf(e), e); return; }
  if (p.ab.shut && p.ba.shut) { finish(p, 'closed', 0); return; }
  if ((p.ab.busy || p.ba.busy) && !p.queued) { p.queued = true; again.push(p); }
}

/** Starts a non-blocking connect; the answer comes as `dialed` (now, or from the epoll loop). */
function dial(c: Extract<SpliceCommand, { op: 'dial' }>): void {
  const fd = sys.socket(c.family === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { post({ op: 'dialed', id: c.id, errno: sys.errno() }); return; }
  const fail = (errno: number) => { sys.close(fd); post({ op: 'dialed', id: c.id, errno }); };
  sys.setsockoptInt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4);
  if (c.local !== null) {
    // Best effort: without it the bind picks a port before the destination is known (as Node does).
    sys.setsockoptInt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, one, 4);
    if (sys.bind(fd, sockaddr, writeSockaddr(sockaddr, c.family, c.local, 0)) < 0) { fail(sys.errno()); return; }
  }
  const d = new Dial(fd);
  if (sys.connect(fd, sockaddr, writeSockaddr(sockaddr, c.family, c.address, c.port)) === 0) {
    d.connecting = false; // loopback may connect at once
    dials[c.id] = d;
    post({ op: 'dialed', id: c.id, errno: 0 });
    return;
  }
  const e = sys.errno();
  if (e !== EINPROGRESS) { fail(e); return; }
  ctlEvent.writeUInt32LE(DIAL_EVENTS, 0);
  ctlEvent.writeUInt32LE(c.id * 2 + 1, EPOLL_EVENT_DATA_OFFSET);
  ctlEvent.writeUInt32LE(0, EPOLL_EVENT_DATA_OFFSET + 4);
  if (sys.epollCtl(epfd, EPOLL_CTL_ADD, fd, ctlEvent) < 0) { fail(sys.errno()); return; }
  dials[c.id] = d;
}

/** A connecting socket became writable or failed: report and take it out of the epoll set. */
function dialEvent(id: number, d: Dial): void {
  optLen[0] = 4;
  optVal[0] = 0;
  const errno = sys.getsockoptInt(d.fd, SOL_SOCKET, SO_ERROR, optVal, optLen) === 0 ? optVal[0]! : sys.errno();
  sys.epollCtl(epfd, EPOLL_CTL_DEL, d.fd, null);
  d.connecting = false;
  if (errno !== 0) { dials[id] = undefined; sys.close(d.fd); }
  post({ op: 'dialed', id, errno });
}

/** The main thread gave up a dial (or a connected socket it will not join). */
function abandon(id: number): void {
  const d = dials[id];
  if (d !== undefined) {
    dials[id] = undefined;
    if (d.connecting) sys.epollCtl(epfd, EPOLL_CTL_DEL, d.fd, null);
    closeOwned(d.fd, true);
  }
  post({ op: 'done', id, reason: 'shutdown', aToB: 0, bToA: 0, errno: 0 });
}

function add(id: number, fdA: number, fdB: number): void {
  const chunk = chunks[Math.floor(id / COUNTER_SLOTS_PER_CHUNK)]!;
  const at = (id % COUNTER_SLOTS_PER_CHUNK) * COUNTERS_PER_SLOT;
  const fds: number[] = [];
  let ownsB = false;
  if (fdB === DIALED) {
    const d = dials[id];
    dials[id] = undefined;
    if (d === undefined || d.connecting) {
      if (d !== undefined) { sys.epollCtl(epfd, EPOLL_CTL_DEL, d.fd, null); sys.close(d.fd); }
      post({ op: 'done', id, reason: 'error', aToB: 0, bToA: 0, errno: 0 });
      return;
    }
    fdB = d.fd;
    ownsB = true;
    fds.push(fdB);
  }
  const fail = (errno: number) => {
    for (const fd of fds) sys.close(fd);
    post({ op: 'done', id, reason: 'error', aToB: 0, bToA: 0, errno });
  };
  const capAb = makePipe();
  if (capAb < 0) { fail(-capAb); return; }
  const [abR, abW] = [pipeFds[0]!, pipeFds[1]!];
  fds.push(abR, abW);
  const capBa = makePipe();
  if (capBa < 0) { fail(-capBa); return; }
  const [baR, baW] = [pipeFds[0]!, pipeFds[1]!];
  fds.push(baR, baW);
  const p = new Pair(id, fdA, fdB, new Direction(fdA, fdB, abR, abW, capAb, chunk, at), new Direction(fdB, fdA, baR, baW, capBa, chunk, at + 1), ownsB);
  ctlEvent.writeUInt32LE(SOCKET_EVENTS, 0);
  ctlEvent.writeUInt32LE(0, EPOLL_EVENT_DATA_OFFSET + 4);
  ctlEvent.writeUInt32LE(id * 2, EPOLL_EVENT_DATA_OFFSET);
  if (sys.epollCtl(epfd, EPOLL_CTL_ADD, fdA, ctlEvent) < 0) { fail(sys.errno()); return; }
  ctlEvent.writeUInt32LE(id * 2 + 1, EPOLL_EVENT_DATA_OFFSET);
  if (sys.epollCtl(epfd, EPOLL_CTL_ADD, fdB, ctlEvent) < 0) { const e = sys.errno(); sys.epollCtl(epfd, EPOLL_CTL_DEL, fdA, null); fail(e); return; }
  // The ADDs queue both sockets' current readiness (at least EPOLLOUT), so the first pump comes from
  // the next epoll_wait: nothing to do here.
  pairs[id] = p;
}

/** Applies queued commands; returns false on 'stop'. */
function commands(): boolean {
  for (;;) {
    const m = receiveMessageOnPort(data.port);
    if (m === undefined) return true;
    const c = m.message as SpliceCommand;
    switch (c.op) {
      case 'chunk': chunks.push(new Float64Array(c.counters)); break;
      case 'add': add(c.id, c.fdA, c.fdB); break;
      case 'cancel': { const p = pairs[c.id]; if (p) finish(p, 'shutdown', 0); break; }
      case 'dial': dial(c); break;
      case 'abandon': abandon(c.id); break;
      case 'stop':
        for (const p of pairs) if (p) finish(p, 'shutdown', 0);
        for (let id = 0; id < dials.length; id++) if (dials[id] !== undefined) abandon(id);
        return false;
    }
  }
}

const epfd = sys.epollCreate1(O_CLOEXEC);
if (epfd < 0) {
  post({ op: 'fatal', message: `epoll_create1 failed: errno ${sys.errno()}` });
} else {
  ctlEvent.writeUInt32LE(EPOLLIN, 0);
  ctlEvent.writeUInt32LE(WAKE_TOKEN, EPOLL_EVENT_DATA_OFFSET);
  ctlEvent.writeUInt32LE(0, EPOLL_EVENT_DATA_OFFSET + 4);
  const probe = makePipe();
  if (sys.epollCtl(epfd, EPOLL_CTL_ADD, data.wakeFd, ctlEvent) < 0 || probe < 0) {
    post({ op: 'fatal', message: `epoll_ctl(wake fd) or pipe2 failed: errno ${sys.errno()}` });
  } else {
    sys.close(pipeFds[0]!); sys.close(pipeFds[1]!);
    post({ op: 'ready', pipeBytes: probe });
    flush();
    run();
  }
  sys.close(epfd);
}
flush();
data.port.close();

function run(): void {
  let running = commands();
  while (running) {
    const n = sys.epollWait(epfd, events, MAX_EVENTS, again.length > 0 ? 0 : WAIT_MS);
    if (n < 0) {
      const e = sys.errno();
      if (e === EINTR) continue;
      post({ op: 'fatal', message: `epoll_wait failed: errno ${e}` });
      for (const p of pairs) if (p) finish(p, 'error', e);
      break;
    }
    for (let i = 0; i < n && running; i++) {
      const off = i * EPOLL_EVENT_SIZE;
      const token = events.readUInt32LE(off + EPOLL_EVENT_DATA_OFFSET);
      if (token === WAKE_TOKEN) {
        sys.read(data.wakeFd, wakeBuf, 8); // read first, then drain: a later write wakes us again
        running = commands();
        continue;
      }
      const id = token >>> 1;
      const p = pairs[id];
      if (p !== undefined) service(p, (token & 1) === 0 ? p.fdA : p.fdB, events.readUInt32LE(off));
      else {
        const d = dials[id];
        if (d !== undefined && d.connecting) dialEvent(id, d);
      }
    }
    if (n === 0 && running) running = commands(); // belt and braces: never strand a command
    if (again.length > 0 && running) {
      const list = again;
      again = spare;
      for (const p of list) {
        p.queued = false;
        if (pairs[p.id] === p) service(p, p.fdA, 0);
      }
      list.length = 0;
      spare = list;
    }
    flush();
  }
  if (!running) post({ op: 'stopped' });
  flush();
}
