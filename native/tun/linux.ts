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
// TCP arrives as GSO super-packets of up to ~64 KiB. GSO size is capped (gso_max_size) so a
// super-packet plus its header fits the 64 KiB stream read. UDP segmentation offload (USO) is not
// requested: the engine would have to split UDP super-packets itself. If the kernel refuses, the
// device runs without offloads and says so in the log.
import { execFile } from 'node:child_process';
import { isIP } from 'node:net';
import type { TunDevice, TunFactory, TunOptions } from '../../app/os/tun.js';
import { silentLogger, type Logger } from '../../app/log.js';
import { IFF_NO_PI, IFF_TUN, IFF_VNET_HDR, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUNSETOFFLOAD, TUNSETVNETHDRSZ, VIRTIO_NET_HDR_LEN, IFNAMSIZ, IFREQ_FLAGS_OFFSET, IFREQ_SIZE, O_CLOEXEC, O_RDWR, TUNSETIFF, libc } from '../libc.js';

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
/** Stream reads are capped at 64 KiB: a longer TUN read would be silently cut (TOOLCHAIN.md). */
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
  /** This write holds the read buffer: reading resumes when it completes. */
  resumesReading?: boolean;
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
function tunFlags(vnetHdr: boolean): number {
  return IFF_TUN | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0);
}

/**
 * The kernel's queue of packets waiting for our reads. At the default 500, UDP bursts at ~1 Gbit/s
 * overflowed it (2.5 % loss, all of it counted as sy0 TX drops); 5000 carried 1 Gbit/s with 0 loss
 * (iperf3 -u -l 1400, client/server namespaces, this 2-core machine).
 */
const TX_QUEUE_LEN = 5000;

/** The largest GSO super-packet we let the kernel build: it plus the virtio header fits a 64 KiB read. */
const GSO_MAX_SIZE = 65536 - 512;

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
      ifr.writeUInt16LE(tunFlags(wantOffload), IFREQ_FLAGS_OFFSET);
      if (c.ioctlPtr(fd, TUNSETIFF, ifr) < 0) {
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
      await this.#configure(name, options, offload.includes('tso'));
      handle = io.newPipe();
      const err = handle.open(fd);
      if (err !== 0) throw new Error(`cannot attach a libuv pipe to the TUN fd: uv error ${err}`);
      this.#log.info('tun opened', { name, mtu: options.mtu, addresses: options.addresses.join(','), offload });
      return new LinuxTunDevice(name, options.mtu, headroom, offload, handle, this.#maxQueuedBytes, this.#log);
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

/** An open Linux TUN device; reads one packet per callback, writes one packet per write(2). */
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
  /** The one buffer every read lands in (see start()). */
  readonly #readBuffer = Buffer.allocUnsafe(65536);
  #readPaused = false;
  readonly #stats: TunStats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txDropped: 0, txErrors: 0, rxErrors: 0, queuedBytes: 0 };

  /** @internal Use LinuxTunFactory.open(). */
  constructor(readonly name: string, readonly mtu: number, readonly headroom: number, readonly offload: string, handle: PipeHandle, maxQueuedBytes: number, log: Logger) {
    this.#handle = handle;
    this.#io = nodeInternals();
    this.#maxQueuedBytes = maxQueuedBytes;
    this.#log = log;
    this.#spareReq = this.#newReq();
  }

  /** A snapshot of the counters. */
  get stats(): TunStats {
    return { ...this.#stats };
  }

  start(onPacket: (packet: Buffer) => void): void {
    if (this.#onPacket) throw new Error(`tun ${this.name}: start() called twice`);
    if (this.#closed) throw new Error(`tun ${this.name}: start() after close()`);
    this.#onPacket = onPacket;
    const { state, kReadBytesOrError, kArrayBufferOffset } = this.#io;
    const stats = this.#stats;
    // Reads land in one reused buffer (a GSO super-packet plus its virtio header fits in 64 KiB):
    // no 64 KiB allocation per read. Measured with offloads, one TCP stream: the per-read
    // ArrayBuffers cost ~11 % of the main thread in garbage collection.
    const rbuf = this.#readBuffer;
    this.#handle.useUserBuffer(rbuf);
    this.#handle.onread = (arrayBuffer) => {
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
    const err = this.#handle.readStart();
    if (err !== 0) this.#readFailed(err);
  }

  write(packet: Buffer): boolean {
    const stats = this.#stats;
    const length = packet.length;
    if (this.#closed || stats.queuedBytes + length > this.#maxQueuedBytes) {
      stats.txDropped++;
      return false;
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
      // The read buffer itself is queued: no read may overwrite it until the write is done.
      if (packet.buffer === this.#readBuffer.buffer && !this.#readPaused) {
        this.#readPaused = true;
        req.resumesReading = true;
        this.#handle.readStop();
      }
    }
    return true;
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = new Promise<void>((resolve) => {
      this.#handle.readStop();
      this.#handle.onread = ignoreRead; // pipe_wrap asserts onread is a function: never null
      // uv_close closes the fd at once (the kernel then deletes the device); the callback runs on
      // the next loop turn. Queued writes complete with ECANCELED before it.
      this.#handle.close(() => resolve());
    });
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
    return req;
  }

  /** @internal Called by onWriteComplete when libuv finished a queued write. */
  writeDone(req: WriteReq, status: number): void {
    this.#stats.queuedBytes -= req.length;
    if (req.resumesReading) {
      req.resumesReading = false;
      this.#readPaused = false;
      if (!this.#closed) this.#handle.readStart();
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
