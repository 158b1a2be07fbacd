// native/tun — Linux TUN device (/dev/net/tun, IFF_TUN|IFF_NO_PI), implementing app/os/tun.ts.
// Packet I/O runs on a libuv pipe handle opened on the TUN fd (Node's internal pipe_wrap binding):
// one read callback = one packet, and every write() is one write(2) — never writev, never coalesced
// (Linux delivers only the first packet of a coalesced write). Nothing on the read/write path
// allocates beyond the packet Buffer itself, formats strings or throws.
//
// Why pipe_wrap (measured, TOOLCHAIN.md): net.Socket refuses a char-device fd; fs.read keeps a
// thread-pool read pending that blocks process exit; the pipe handle reads ~240k pps, exits cleanly.
// It is an internal API: everything that touches it is in this file, behind TunDevice.
//
// Offloads (measured, ARCHITECTURE.md: ~10x fewer packets per byte): IFF_VNET_HDR + TUNSETVNETHDRSZ
// (10) + TUNSETOFFLOAD (CSUM|TSO4|TSO6). Every read and write then starts with a virtio_net_hdr and
// TCP arrives as GSO super-packets of up to 64 KiB. Every read lands in a buffer of READ_BUFFER
// bytes (a super-packet plus its header and slack: libuv reads as much as the user buffer holds).
// UDP segmentation offload (USO) is not
// requested: the engine would have to split UDP super-packets itself. If the kernel refuses, the
// device runs without offloads and says so in the log.
import { execFile } from 'node:child_process';
import { isIP } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { FastPathMemory } from '../../app/engine/fast-path.js';
import type { QueueWorkerData, QueueWorkerEvent } from './queue-worker.js';
import { T_READ_BYTES } from '../../app/engine/fast-path.js';
import type { TunDevice, TunFactory, TunOptions } from '../../app/os/tun.js';
import { silentLogger, type Logger } from '../../app/log.js';
import {
  AF_UNIX, IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TUN, IFF_VNET_HDR, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUNSETOFFLOAD, TUNSETVNETHDRSZ,
  VIRTIO_NET_HDR_LEN, IFNAMSIZ, IFREQ_FLAGS_OFFSET, IFREQ_SIZE, O_CLOEXEC, O_NONBLOCK, O_RDWR, SOCK_CLOEXEC, SOCK_NONBLOCK,
  SOCK_SEQPACKET, SO_SNDBUF, SO_SNDBUFFORCE, SOL_SOCKET, TUNSETIFF, libc, relayLibc, type RelayLibc,
} from '../libc.js';

/** Options of the Linux TUN factory. */
export interface LinuxTunFactoryOptions {
  log?: Logger;
  /** Bytes a device may hold in its write queue before write() drops; default 4 MiB. */
  maxQueuedBytes?: number;
  /** Command prefix for iproute2 (default ['ip']); tests may use ['ip', '-n', NS]. */
  ip?: string[];
}

/** Counters of one device; read them at a fixed tick, never per packet. */
export interface TunStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Packets write() refused: device closed or write queue over its limit. */
  txDropped: number;
  /** Packets the kernel refused (e.g. EIO while the link is down, EINVAL for a non-IP packet). */
  txErrors: number;
  rxErrors: number;
  /** Bytes accepted by write() that the kernel has not taken yet. */
  queuedBytes: number;
}

const DEFAULT_MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** The IPv4/IPv6 packet length field's limit (a read of MTU + header fits READ_BUFFER). */
const MAX_MTU = 65535;
const MIN_MTU = 68;
/** libuv error codes (negative errno on Linux; EOF is libuv's own). */
const UV_EOF = -4095;
const UV_EAGAIN = -11;
const UV_EBADFD = -77;

// ---- Node internals (pipe_wrap / stream_wrap), typed just enough for what this file uses. ----

interface WriteReq {
  handle: PipeHandle | null;
  oncomplete: ((this: WriteReq, status: number) => void) | null;
  buffer: Buffer | null;
  device: LinuxTunDevice | null;
  length: number;
  /** This write holds a reader's buffer: that reader resumes when it completes. */
  resumes: Reader | null;
}
interface PipeHandle {
  open(fd: number): number;
  readStart(): number;
  readStop(): number;
  useUserBuffer(buf: Uint8Array): void;
  writeBuffer(req: WriteReq, buffer: Buffer): number;
  close(cb: () => void): void;
  onread: (arrayBuffer: ArrayBuffer | undefined) => void;
}
interface Internals {
  newPipe(): PipeHandle;
  newWriteReq(): WriteReq;
  /** Shared Int32Array the stream layer writes results into (nread, offset, bytes, async). */
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}

let internals: Internals | undefined;

function nodeInternals(): Internals {
  if (internals) return internals;
  const binding = (process as unknown as { binding(name: string): Record<string, any> }).binding;
  const pipeWrap = binding('pipe_wrap');
  const streamWrap = binding('stream_wrap');
  if (typeof pipeWrap?.Pipe !== 'function' || typeof streamWrap?.WriteWrap !== 'function' || !(streamWrap.streamBaseState instanceof Int32Array)) {
    throw new Error(`this runtime (Node ${process.version}) lacks the pipe_wrap/stream_wrap internals the Linux TUN needs`);
  }
  const { Pipe, constants } = pipeWrap;
  const { WriteWrap } = streamWrap;
  internals = {
    newPipe: () => new Pipe(constants.SOCKET) as PipeHandle,
    newWriteReq: () => new WriteWrap() as WriteReq,
    state: streamWrap.streamBaseState,
    kReadBytesOrError: streamWrap.kReadBytesOrError,
    kArrayBufferOffset: streamWrap.kArrayBufferOffset,
    kLastWriteWasAsync: streamWrap.kLastWriteWasAsync,
  };
  return internals;
}

/** Flags for TUNSETIFF. */
function tunFlags(vnetHdr: boolean, multiQueue: boolean): number {
  return IFF_TUN | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0) | (multiQueue ? IFF_MULTI_QUEUE : 0);
}

/** The most queues a device gets (one worker thread each beyond the first). */
const MAX_QUEUES = 8;
const EINVAL_ERRNO = 22;

/**
 * The kernel's queue of packets waiting for our reads. At the default 500, UDP bursts at ~1 Gbit/s
 * overflowed it (2.5 % loss, all of it counted as sy0 TX drops); 5000 carried 1 Gbit/s with 0 loss
 * (iperf3 -u -l 1400, client/server namespaces, this 2-core machine).
 */
const TX_QUEUE_LEN = 5000;

/**
 * The largest GSO super-packet the kernel may hand us: the legacy maximum, as every other device
 * has. It was 65024 (so that packet + header fit a 64 KiB read) until the gateway bench showed what
 * that cost: the kernel segments in software every forwarded aggregate at or over a device's
 * gso_max_size, and a LAN NIC's GRO (or a veth's TSO) builds them up to 64 KiB — so LAN devices'
 * uploads reached the TUN as 1,500-byte packets (gateway upload 2.55 Gbit/s = 0.19× of kernel
 * forwarding; see the commit for after). Reads now use READ_BUFFER-sized buffers.
 */
const GSO_MAX_SIZE = 65536;
/** Bytes of every TUN read buffer: the largest super-packet (65535) + virtio-net header + slack. */
export const READ_BUFFER = 65536 + 1024;

/** Creates Linux TUN devices: TUNSETIFF, then MTU, addresses and link up through iproute2. */
export class LinuxTunFactory implements TunFactory {
  readonly #log: Logger;
  readonly #maxQueuedBytes: number;
  readonly #ip: string[];

  constructor(options: LinuxTunFactoryOptions = {}) {
    this.#log = options.log ?? silentLogger;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.#ip = options.ip ?? ['ip'];
  }

  async open(options: TunOptions): Promise<LinuxTunDevice> {
    validateOptions(options);
    const io = nodeInternals();
    const c = libc();
    const fd = c.open('/dev/net/tun', O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      const e = c.errno();
      throw new Error(`cannot open /dev/net/tun: ${c.errnoName(e)}${e === 2 ? ' (is the tun module loaded?)' : ''}`);
    }
    let handle: PipeHandle | undefined;
    try {
      const ifr = Buffer.alloc(IFREQ_SIZE);
      ifr.write(options.name, 0, IFNAMSIZ - 1, 'utf8');
      const wantOffload = options.offload !== 'off';
      let wantQueues = Math.max(1, Math.min(MAX_QUEUES, Math.floor(options.queues ?? 1)));
      ifr.writeUInt16LE(tunFlags(wantOffload, wantQueues > 1), IFREQ_FLAGS_OFFSET);
      let set = c.ioctlPtr(fd, TUNSETIFF, ifr) >= 0;
      if (!set && wantQueues > 1 && c.errno() === EINVAL_ERRNO) {
        // A kernel without multi-queue TUN (or an existing single-queue device of that name): one queue.
        this.#log.warn('tun: multi-queue refused by the kernel; running one queue (slower with several flows)', { name: options.name });
        wantQueues = 1;
        ifr.writeUInt16LE(tunFlags(wantOffload, false), IFREQ_FLAGS_OFFSET);
        set = c.ioctlPtr(fd, TUNSETIFF, ifr) >= 0;
      }
      if (!set) {
        const e = c.errnoName(c.errno());
        const hint = e === 'EPERM' ? ' (needs CAP_NET_ADMIN)' : e === 'EBUSY' ? ' (the device is in use by another process)' : e === 'EINVAL' ? ' (a non-TUN device of that name exists?)' : '';
        throw new Error(`TUNSETIFF ${options.name}: ${e}${hint}`);
      }
      const end = ifr.indexOf(0);
      const name = ifr.toString('utf8', 0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end);
      let headroom = 0, offload = 'none';
      if (wantOffload) {
        headroom = VIRTIO_NET_HDR_LEN;
        const size = Buffer.alloc(4);
        size.writeInt32LE(VIRTIO_NET_HDR_LEN);
        if (c.ioctlPtr(fd, TUNSETVNETHDRSZ, size) < 0) throw new Error(`TUNSETVNETHDRSZ ${name}: ${c.errnoName(c.errno())}`);
        if (c.ioctlInt(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) === 0) offload = 'csum+tso4+tso6';
        else if (c.ioctlInt(fd, TUNSETOFFLOAD, TUN_F_CSUM) === 0) offload = 'csum';
        else this.#log.warn('tun: the kernel refused checksum/segmentation offloads; running without (slower)', { error: c.errnoName(c.errno()) });
      }
      // Further queues are attached when load asks for them (LinuxTunDevice: the same TUNSETIFF on
      // a new fd); a queue that exists takes its share of the flows whether or not anyone reads it.
      await this.#configure(name, options, offload.includes('tso'));
      handle = io.newPipe();
      const err = handle.open(fd);
      if (err !== 0) throw new Error(`cannot attach a libuv pipe to the TUN fd: uv error ${err}`);
      this.#log.info('tun opened', { name, mtu: options.mtu, addresses: options.addresses.join(','), offload, queues: wantQueues });
      return new LinuxTunDevice(name, options.mtu, headroom, offload, handle, this.#maxQueuedBytes, this.#log, wantQueues - 1, ifr);
    } catch (e) {
      if (handle) handle.close(() => undefined); else c.close(fd);
      throw e;
    }
  }

  async #configure(name: string, options: TunOptions, gso: boolean): Promise<void> {
    await runIp(this.#ip, ['link', 'set', 'dev', name, 'mtu', String(options.mtu), 'txqueuelen', String(TX_QUEUE_LEN)]);
    if (gso) await runIp(this.#ip, ['link', 'set', 'dev', name, 'gso_max_size', String(GSO_MAX_SIZE)]);
    for (const addr of options.addresses) {
      const v6 = isIP(addr.split('/')[0]!) === 6;
      await runIp(this.#ip, v6 ? ['-6', 'addr', 'add', addr, 'dev', name, 'nodad'] : ['addr', 'add', addr, 'dev', name]);
    }
    await runIp(this.#ip, ['link', 'set', 'dev', name, 'up']);
  }
}

/** A libuv read handle with its one reused buffer (the TUN's queue 0, or the queue workers' handoff). */
interface Reader {
  handle: PipeHandle;
  buffer: Buffer;
  /** Reading is stopped while a queued write holds this reader's buffer. */
  paused: boolean;
}

/** How long close() waits for the queue workers to see their stop flag before terminating them. */
const WORKER_STOP_MS = 2_000;
/** Send buffer of the workers' handoff socket: a burst of SYNs must not be dropped on its way to the engine. */
const HANDOFF_SNDBUF = 4 * 1024 * 1024;
/**
 * Queue workers run only under load: each costs ~10 MiB of memory (a Node worker), which an idle
 * service should not pay (idle RSS 77 → 88 MiB with one always running). The device looks at the
 * bytes it moved every SCALE_TICK_MS: at SCALE_UP_BYTES or more in one tick (~134 Mbit/s) the
 * workers start; after SCALE_QUIET_TICKS ticks in a row under SCALE_DOWN_BYTES they stop.
 */
const SCALE_TICK_MS = 250;
const SCALE_UP_BYTES = 4 * 1024 * 1024;
const SCALE_DOWN_BYTES = 256 * 1024;
const SCALE_QUIET_TICKS = 120;

/** What the load says about the queue workers: start them, stop them, or leave them as they are. */
export function queueScaling(running: boolean, tickBytes: number, quietTicks: number): { action: 'start' | 'stop' | null; quietTicks: number } {
  if (!running) return { action: tickBytes >= SCALE_UP_BYTES ? 'start' : null, quietTicks: 0 };
  if (tickBytes >= SCALE_DOWN_BYTES) return { action: null, quietTicks: 0 };
  const quiet = quietTicks + 1;
  return quiet >= SCALE_QUIET_TICKS ? { action: 'stop', quietTicks: 0 } : { action: null, quietTicks: quiet };
}

/**
 * An open Linux TUN device; reads one packet per callback, writes one packet per write(2).
 * Multi-queue: queue 0 is read here (libuv, the engine's thread). Once attachFastPath() gave it the
 * engine's shared NAT table, the device attaches further queues under load, each read by a worker
 * thread (queue-worker.ts); what a worker does not forward itself arrives here through a
 * SOCK_SEQPACKET socketpair, read like the TUN.
 */
export class LinuxTunDevice implements TunDevice {
  /** Called once if reading stops for good (device deleted, fd error); the device is closed then. */
  onError: ((err: Error) => void) | null = null;

  readonly #handle: PipeHandle;
  readonly #io: Internals;
  readonly #maxQueuedBytes: number;
  readonly #log: Logger;
  #onPacket: ((packet: Buffer) => void) | null = null;
  /** The request object lent to writeBuffer; replaced only when the kernel queued a write. */
  #spareReq: WriteReq;
  #closed = false;
  #closing: Promise<void> | undefined;
  #handlerErrors = 0;
  /** Queue 0, and the handoff from the queue workers once attachFastPath() made it. */
  readonly #readers: Reader[];
  /** Worker queues the device may attach (queues - 1), and the TUNSETIFF request that attaches one. */
  readonly #maxExtra: number;
  readonly #ifr: Buffer | null;
  /** Attached worker queues' fds (index = the worker's reader number); empty while no worker runs. */
  #queueFds: number[] = [];
  #memory: FastPathMemory | null = null;
  /** The queue workers' totals (T_* slots), read at each scale tick. */
  #workerTotals: Float64Array[] = [];
  #sys: RelayLibc | null = null;
  #workers: Worker[] = [];
  #workerControl: Int32Array | null = null;
  #handoffFd = -1;
  #scaleTimer: NodeJS.Timeout | null = null;
  #scaling: Promise<void> | null = null;
  /** Set when queues could not be attached or a worker failed: the device stays on one queue. */
  #scaleBroken = false;
  #lastBytes = 0;
  #quietTicks = 0;
  readonly #stats: TunStats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txDropped: 0, txErrors: 0, rxErrors: 0, queuedBytes: 0 };

  /** @internal Use LinuxTunFactory.open(). */
  constructor(readonly name: string, readonly mtu: number, readonly headroom: number, readonly offload: string, handle: PipeHandle, maxQueuedBytes: number, log: Logger, extraQueues = 0, ifr: Buffer | null = null) {
    this.#handle = handle;
    this.#io = nodeInternals();
    this.#maxQueuedBytes = maxQueuedBytes;
    this.#log = log;
    this.#maxExtra = ifr === null ? 0 : extraQueues;
    this.#ifr = ifr === null ? null : Buffer.from(ifr);
    this.#readers = [{ handle, buffer: Buffer.allocUnsafe(READ_BUFFER), paused: false }];
    this.#spareReq = this.#newReq();
  }

  /** Queues the device can use: 1 + the worker queues it attaches under load. */
  get queues(): number { return 1 + this.#maxExtra; }

  /** Worker queues attached right now (0 while idle). */
  get activeWorkers(): number { return this.#queueFds.length; }

  /** A snapshot of the counters (the queue workers' own counters are in the fast path's totals). */
  get stats(): TunStats {
    return { ...this.#stats };
  }

  async attachFastPath(memory: FastPathMemory): Promise<void> {
    if (this.#maxExtra === 0) return;
    if (this.#onPacket) throw new Error(`tun ${this.name}: attachFastPath() after start()`);
    if (this.#memory !== null) throw new Error(`tun ${this.name}: attachFastPath() called twice`);
    if (memory.counters.length < this.#maxExtra) throw new Error(`tun ${this.name}: the fast path has ${memory.counters.length} readers for ${this.#maxExtra} worker queues`);
    const sys = (this.#sys = relayLibc());
    const pair = new Int32Array(2);
    if (sys.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) {
      throw new Error(`tun ${this.name}: socketpair for the queue workers failed: errno ${sys.errno()}`);
    }
    const size = Int32Array.of(HANDOFF_SNDBUF);
    if (sys.setsockoptInt(pair[1]!, SOL_SOCKET, SO_SNDBUFFORCE, size, 4) < 0) sys.setsockoptInt(pair[1]!, SOL_SOCKET, SO_SNDBUF, size, 4);
    const handoff = this.#io.newPipe();
    const err = handoff.open(pair[0]!);
    if (err !== 0) {
      sys.close(pair[0]!); sys.close(pair[1]!);
      throw new Error(`tun ${this.name}: cannot attach a libuv pipe to the handoff socket: uv error ${err}`);
    }
    this.#handoffFd = pair[1]!; // the read end belongs to the libuv handle now
    this.#readers.push({ handle: handoff, buffer: Buffer.allocUnsafe(READ_BUFFER), paused: false });
    this.#memory = memory;
    this.#workerTotals = memory.totals.map((t) => new Float64Array(t));
    this.#scaleTimer = setInterval(() => this.#scaleTick(), SCALE_TICK_MS);
    this.#scaleTimer.unref();
  }

  /** Starts the queue workers now instead of waiting for load (tests, benchmarks). */
  startQueueWorkers(): Promise<void> {
    if (this.#memory === null || this.#scaleBroken || this.#closed) return Promise.resolve();
    this.#scaling ??= this.#startQueues().finally(() => { this.#scaling = null; });
    return this.#scaling;
  }

  #scaleTick(): void {
    const memory = this.#memory;
    if (memory === null || this.#closed) return;
    let bytes = this.#stats.rxBytes;
    for (const t of this.#workerTotals) bytes += t[T_READ_BYTES]!;
    const tick = bytes - this.#lastBytes;
    this.#lastBytes = bytes;
    if (this.#scaling !== null || this.#scaleBroken) return;
    const d = queueScaling(this.#queueFds.length > 0, tick, this.#quietTicks);
    this.#quietTicks = d.quietTicks;
    if (d.action === 'start') this.#scaling = this.#startQueues().finally(() => { this.#scaling = null; });
    else if (d.action === 'stop') this.#scaling = this.#stopQueues('idle').finally(() => { this.#scaling = null; });
  }

  /** Attaches the worker queues and starts one worker on each; on any failure the device stays on one queue. */
  async #startQueues(): Promise<void> {
    if (this.#queueFds.length > 0 || this.#memory === null || this.#ifr === null) return;
    const c = libc();
    const fds: number[] = [];
    for (let q = 0; q < this.#maxExtra; q++) {
      const qfd = c.open('/dev/net/tun', O_RDWR | O_CLOEXEC | O_NONBLOCK);
      if (qfd >= 0 && c.ioctlPtr(qfd, TUNSETIFF, this.#ifr) >= 0) { fds.push(qfd); continue; }
      const e = c.errnoName(c.errno());
      if (qfd >= 0) c.close(qfd);
      this.#log.warn('tun: could not attach a queue; one thread does all packet I/O', { name: this.name, error: e });
      for (const fd of fds) c.close(fd);
      this.#scaleBroken = true;
      return;
    }
    const control = new SharedArrayBuffer(4);
    this.#workerControl = new Int32Array(control);
    const memory = this.#memory;
    const started = fds.map((queueFd, reader) => {
      const workerData: QueueWorkerData = { queueFd, handoffFd: this.#handoffFd, memory, reader, control };
      const w = new Worker(new URL('./queue-worker.js', import.meta.url), { workerData });
      this.#workers.push(w);
      return new Promise<void>((resolve, reject) => {
        w.on('message', (e: QueueWorkerEvent) => {
          if (e.op === 'ready') resolve();
          else if (e.op === 'fatal') { reject(new Error(e.message)); this.#workerFailed(reader, e.message); }
        });
        w.on('error', (e) => { reject(e); this.#workerFailed(reader, e.message); });
        w.on('exit', (code) => reject(new Error(`queue worker exited (${code}) before it was ready`)));
      });
    });
    try {
      await Promise.all(started);
    } catch (e) {
      this.#log.warn('tun: queue workers could not start; one thread does all packet I/O', { name: this.name, error: (e as Error).message });
      this.#scaleBroken = true;
      await this.#joinWorkers();
      for (const fd of fds) c.close(fd);
      return;
    }
    if (this.#closed) { await this.#joinWorkers(); for (const fd of fds) c.close(fd); return; }
    // From now on the engine's writes steer sessions to these queues.
    this.#queueFds = fds;
    this.#quietTicks = 0;
    this.#log.info('tun: queue workers started (load)', { name: this.name, workers: fds.length });
  }

  /** Stops the workers and detaches their queues (the kernel then sends every flow to queue 0). */
  async #stopQueues(why: string): Promise<void> {
    const fds = this.#queueFds;
    if (fds.length === 0) return;
    this.#queueFds = []; // the engine's next writes go through queue 0
    await this.#joinWorkers();
    const c = libc();
    for (const fd of fds) c.close(fd);
    if (why === 'idle') this.#log.info('tun: queue workers stopped (idle)', { name: this.name });
  }

  async #joinWorkers(): Promise<void> {
    const workers = this.#workers;
    this.#workers = [];
    if (workers.length === 0) return;
    if (this.#workerControl) Atomics.store(this.#workerControl, 0, 1);
    await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
      if (w.threadId === -1) { resolve(); return; }
      const timer = setTimeout(() => { void w.terminate(); }, WORKER_STOP_MS);
      w.once('exit', () => { clearTimeout(timer); resolve(); });
    })));
  }

  #workerFailed(reader: number, message: string): void {
    if (this.#closed || this.#scaleBroken) return;
    // Every worker queue is given up (the fds closed, so the kernel stops sending them anything):
    // their flows move to queue 0. Packets that sat in the queues are lost (TCP resends them).
    this.#scaleBroken = true;
    this.#log.error(`tun ${this.name}: queue worker ${reader + 1} stopped; one thread does all packet I/O from now on`, { message });
    if (this.#scaling === null) this.#scaling = this.#stopQueues('failed').finally(() => { this.#scaling = null; });
  }

  start(onPacket: (packet: Buffer) => void): void {
    if (this.#onPacket) throw new Error(`tun ${this.name}: start() called twice`);
    if (this.#closed) throw new Error(`tun ${this.name}: start() after close()`);
    this.#onPacket = onPacket;
    for (const r of this.#readers) this.#startReader(r, onPacket);
  }

  #startReader(reader: Reader, onPacket: (packet: Buffer) => void): void {
    const { state, kReadBytesOrError, kArrayBufferOffset } = this.#io;
    const stats = this.#stats;
    // Reads land in one reused buffer (a GSO super-packet plus its virtio header fits READ_BUFFER):
    // no 64 KiB allocation per read. Measured with offloads, one TCP stream: the per-read
    // ArrayBuffers cost ~11 % of the main thread in garbage collection.
    const rbuf = reader.buffer;
    reader.handle.useUserBuffer(rbuf);
    reader.handle.onread = (arrayBuffer) => {
      const nread = state[kReadBytesOrError]!;
      if (nread > 0) {
        const packet = arrayBuffer === undefined ? rbuf.subarray(0, nread) : Buffer.from(arrayBuffer, state[kArrayBufferOffset]!, nread);
        stats.rxPackets++;
        stats.rxBytes += nread;
        try {
          onPacket(packet);
        } catch (e) {
          this.#handlerFailed(e);
        }
      } else if (nread < 0 && nread !== UV_EAGAIN) {
        this.#readFailed(nread);
      }
    };
    const err = reader.handle.readStart();
    if (err !== 0) this.#readFailed(err);
  }

  write(packet: Buffer, queue = 0): boolean {
    const stats = this.#stats;
    const length = packet.length;
    if (this.#closed || stats.queuedBytes + length > this.#maxQueuedBytes) {
      stats.txDropped++;
      return false;
    }
    const nq = this.#queueFds.length;
    if (nq !== 0 && this.#sys !== null) {
      const q = (queue >>> 0) % (nq + 1);
      if (q !== 0) {
        // A worker's queue: written from here at once (a TUN write never blocks), so the kernel
        // steers the flow's next packets to that queue's worker. While no worker runs, every
        // write goes through queue 0.
        const qfd = this.#queueFds[q - 1]!;
        if (this.#sys.write(qfd, packet, length) < 0) { stats.txErrors++; return false; }
        stats.txPackets++;
        stats.txBytes += length;
        return true;
      }
    }
    const req = this.#spareReq;
    // One buffer, one uv_write: libuv tries write(2) at once and only queues if the fd is not ready.
    const err = this.#handle.writeBuffer(req, packet);
    if (err !== 0) {
      stats.txErrors++;
      return false;
    }
    stats.txPackets++;
    stats.txBytes += length;
    if (this.#io.state[this.#io.kLastWriteWasAsync] !== 0) {
      // Queued in libuv: keep the packet alive until oncomplete; lend a fresh request next time.
      req.buffer = packet;
      req.length = length;
      stats.queuedBytes += length;
      this.#spareReq = this.#newReq();
      // A read buffer itself is queued: no read may overwrite it until the write is done.
      for (const r of this.#readers) {
        if (packet.buffer === r.buffer.buffer && !r.paused) {
          r.paused = true;
          req.resumes = r;
          r.handle.readStop();
        }
      }
    }
    return true;
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    if (this.#scaleTimer) clearInterval(this.#scaleTimer);
    this.#closing = (async () => {
      // Workers first: they use the queue fds, which close after them.
      await this.#scaling?.catch(() => undefined);
      await this.#stopQueues('close');
      await Promise.all(this.#readers.map((r) => new Promise<void>((resolve) => {
        r.handle.readStop();
        r.handle.onread = ignoreRead; // pipe_wrap asserts onread is a function: never null
        // uv_close closes the fd at once (the kernel then deletes the device once every queue is
        // closed); the callback runs on the next loop turn. Queued writes complete with ECANCELED before it.
        r.handle.close(() => resolve());
      })));
      if (this.#handoffFd >= 0) { libc().close(this.#handoffFd); this.#handoffFd = -1; }
    })();
    this.#log.info('tun closed', { name: this.name, ...this.#stats });
    return this.#closing;
  }

  #newReq(): WriteReq {
    const req = this.#io.newWriteReq();
    req.handle = this.#handle;
    req.oncomplete = onWriteComplete;
    req.buffer = null;
    req.device = this;
    req.length = 0;
    req.resumes = null;
    return req;
  }

  /** @internal Called by onWriteComplete when libuv finished a queued write. */
  writeDone(req: WriteReq, status: number): void {
    this.#stats.queuedBytes -= req.length;
    const r = req.resumes;
    if (r) {
      req.resumes = null;
      r.paused = false;
      if (!this.#closed) r.handle.readStart();
    }
    if (status < 0 && !this.#closed) this.#stats.txErrors++;
    req.buffer = null;
    req.device = null;
  }

  #readFailed(err: number): void {
    this.#stats.rxErrors++;
    if (this.#closed) return;
    // Deleting the link under an open fd gives EBADFD (-77); EOF is handled the same way.
    const error = new Error(err === UV_EOF || err === UV_EBADFD
      ? `tun ${this.name}: the device went away (link deleted?); reading stopped`
      : `tun ${this.name}: read failed (uv error ${err}); reading stopped`);
    this.#log.error(error.message, { ...this.#stats });
    void this.close();
    this.onError?.(error);
  }

  #handlerFailed(e: unknown): void {
    // A bug in the packet handler must not kill the read loop; log the first few, count the rest.
    if (++this.#handlerErrors <= 3) this.#log.error('tun packet handler threw', { name: this.name, error: String((e as Error)?.stack ?? e) });
  }
}

function ignoreRead(): void {}

function onWriteComplete(this: WriteReq, status: number): void {
  this.device?.writeDone(this, status);
}

function validateOptions(o: TunOptions): void {
  if (!/^[A-Za-z0-9_.%-]{1,15}$/.test(o.name) || o.name === '.' || o.name === '..' || Buffer.byteLength(o.name) > IFNAMSIZ - 1) {
    throw new Error(`invalid TUN name ${JSON.stringify(o.name)} (1-15 of A-Z a-z 0-9 _ . - %)`);
  }
  if (!Number.isInteger(o.mtu) || o.mtu < MIN_MTU || o.mtu > MAX_MTU) throw new Error(`invalid TUN MTU ${o.mtu} (${MIN_MTU}..${MAX_MTU})`);
  for (const a of o.addresses) {
    const [ip, len, extra] = a.split('/');
    const family = isIP(ip ?? '');
    const bits = Number(len);
    if (!family || extra !== undefined || len === undefined || !/^\d+$/.test(len) || bits > (family === 4 ? 32 : 128)) {
      throw new Error(`invalid TUN address ${JSON.stringify(a)} (want address/prefix-length)`);
    }
    if (family === 6 && o.mtu < 1280) throw new Error(`TUN MTU ${o.mtu} is below the IPv6 minimum 1280 but ${a} is IPv6`);
  }
}

/** Runs iproute2; rejects with an Error quoting the command and its stderr. */
function runIp(prefix: string[], args: string[]): Promise<string> {
  const [cmd, ...pre] = prefix;
  return new Promise((resolve, reject) => {
    execFile(cmd!, [...pre, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`\`${[...prefix, ...args].join(' ')}\` failed: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}
