// NAT port allocation for the kernel-terminated TCP path. Each TCP session is rewritten to
// (fake peer F, port n) → (TUN address T, listener port L), so n identifies the session on the way
// back: sessions are indexed by n in a flat array (one load per inbound packet).
// Ports are handed out round-robin and a freed port is quarantined for `quarantineMs`, so a new
// flow never lands on a kernel socket still in TIME_WAIT for the previous one.
import type { Session } from './session.js';

export const NAT_PORT_MIN = 1024;
export const NAT_PORT_MAX = 65535;

export class NatPorts {
  readonly #owner: (Session | null)[] = new Array(NAT_PORT_MAX + 1).fill(null);
  readonly #freedAt = new Float64Array(NAT_PORT_MAX + 1);
  #cursor = NAT_PORT_MIN;
  #used = 0;

  constructor(readonly quarantineMs = 60_000) {}

  get used(): number { return this.#used; }

  /** The session owning port n, or null. */
  get(n: number): Session | null { return this.#owner[n] ?? null; }

  /** Allocates a port for `s`; returns 0 when none is free. */
  allocate(s: Session, now: number): number {
    const span = NAT_PORT_MAX - NAT_PORT_MIN + 1;
    let fallback = 0, fallbackFreedAt = Infinity;
    for (let tries = 0; tries < span; tries++) {
      const n = this.#cursor;
      this.#cursor = n === NAT_PORT_MAX ? NAT_PORT_MIN : n + 1;
      if (this.#owner[n] !== null) continue;
      const freed = this.#freedAt[n]!;
      if (freed !== 0 && now - freed < this.quarantineMs) {
        if (freed < fallbackFreedAt) { fallback = n; fallbackFreedAt = freed; }
        continue;
      }
      return this.#take(n, s);
    }
    // Every free port is quarantined: reuse the one freed longest ago rather than refuse the flow
    // (the kernel accepts a new SYN on a TIME_WAIT socket when its timestamp or sequence is newer).
    return fallback === 0 ? 0 : this.#take(fallback, s);
  }

  #take(n: number, s: Session): number {
    this.#owner[n] = s;
    this.#used++;
    return n;
  }

  /** Frees port n if `s` owns it. */
  release(n: number, s: Session, now: number): void {
    if (n === 0 || this.#owner[n] !== s) return;
    this.#owner[n] = null;
    this.#freedAt[n] = now;
    this.#used--;
  }
}
