// An in-memory TunDevice for unit tests: inject() plays a packet read from the OS, written[] holds
// what the engine wrote, and waitForWrite() resolves on the next matching write.
import type { TunDevice } from '../../app/os/tun.js';

export class FakeTun implements TunDevice {
  readonly name = 'fake0';
  readonly mtu = 1500;
  readonly queues = 1;
  readonly offload: string;
  constructor(readonly headroom = 0) { this.offload = headroom ? 'fake-vnet' : 'none'; }
  readonly written: Buffer[] = [];
  #onPacket: ((p: Buffer) => void) | null = null;
  #waiters: { match: (p: Buffer) => boolean; resolve: (p: Buffer) => void }[] = [];
  closed = false;

  start(onPacket: (packet: Buffer) => void): void { this.#onPacket = onPacket; }

  write(packet: Buffer): boolean {
    if (this.closed) return false;
    const copy = Buffer.from(packet);
    this.written.push(copy);
    this.#waiters = this.#waiters.filter((w) => (w.match(copy) ? (w.resolve(copy), false) : true));
    return true;
  }

  inject(packet: Buffer): void { this.#onPacket?.(packet); }

  waitForWrite(match: (p: Buffer) => boolean = () => true, timeoutMs = 2000): Promise<Buffer> {
    const found = this.written.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no matching packet written to the fake TUN')), timeoutMs);
      this.#waiters.push({ match, resolve: (p) => { clearTimeout(t); resolve(p); } });
    });
  }

  async close(): Promise<void> { this.closed = true; }
}
