// The portable StreamRelay (app/os/relay.ts): Node streams, one JavaScript read and write per chunk
// (up to 64 KiB). Half-close via allowHalfOpen sockets and end(); a reset via resetAndDestroy().
import type net from 'node:net';
import type { RelayEnd, RelayResult, RelayStats, StreamRelay } from '../os/relay.js';
import type { TokenBucket } from './rate-limit.js';

/** Sees the bytes a JsRelay moves, per direction (read only; called before the bytes are written). */
export interface RelayTap {
  aToB?: (chunk: Buffer) => void;
  bToA?: (chunk: Buffer) => void;
}

/** Rate limits per direction (a rule's shared buckets): reading stops while a bucket is in debt. */
export interface RelayLimits {
  aToB?: TokenBucket;
  bToA?: TokenBucket;
}

export class JsRelay implements StreamRelay {
  readonly kind = 'js';
  /** Each live socket → its peer. */
  readonly #live = new Map<net.Socket, net.Socket>();
  #closing = false;

  join(a: net.Socket, b: net.Socket, done: (result: RelayResult) => void, tap?: RelayTap, limits?: RelayLimits): RelayStats {
    const stats: RelayStats = { aToB: 0, bToA: 0 };
    let reason: RelayEnd = 'closed';
    let open = 2;
    const live = this.#live;
    live.set(a, b); live.set(b, a);
    const closed = (s: net.Socket) => {
      live.delete(s);
      if (--open === 0) done({ reason: this.#closing ? 'shutdown' : reason, aToB: stats.aToB, bToA: stats.bToA });
    };
    const pipe = (from: net.Socket, to: net.Socket, count: 'aToB' | 'bToA') => {
      const see = tap?.[count];
      const bucket = limits?.[count];
      // Two reasons to stop reading `from`: `to` is full (resume on drain) and the rule's bucket is
      // in debt (resume when paid). Reading resumes only when neither holds.
      let full = false, throttled = false;
      from.on('data', (chunk: Buffer) => {
        stats[count] += chunk.length;
        if (see) see(chunk);
        if (!to.write(chunk)) { full = true; from.pause(); }
        if (bucket) {
          const wait = bucket.take(chunk.length);
          if (wait > 0 && !throttled) {
            throttled = true;
            from.pause();
            setTimeout(() => { throttled = false; if (!full && !from.destroyed) from.resume(); }, wait).unref();
          }
        }
      });
      to.on('drain', () => { full = false; if (!throttled) from.resume(); });
      // A side whose EOF was read before the join (while its first bytes were sniffed) ends now.
      if (from.readableEnded) to.end();
      else from.on('end', () => to.end());
      from.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
          if (reason === 'closed') reason = 'reset';
          if (!to.destroyed) to.resetAndDestroy();
        } else {
          if (reason === 'closed') reason = 'error';
          to.destroy();
        }
      });
      from.once('close', () => closed(from));
    };
    pipe(a, b, 'aToB');
    pipe(b, a, 'bToA');
    a.resume(); b.resume();
    return stats;
  }

  reset(socket: net.Socket): boolean {
    const peer = this.#live.get(socket);
    if (peer === undefined) return false;
    this.#live.delete(socket); this.#live.delete(peer);
    for (const s of [socket, peer]) if (!s.destroyed) { s.on('error', () => {}); s.resetAndDestroy(); }
    return true;
  }

  async close(): Promise<void> {
    this.#closing = true;
    const ended: Promise<void>[] = [];
    for (const s of this.#live.keys()) {
      ended.push(new Promise((r) => (s.closed ? r() : s.once('close', () => r()))));
      s.on('error', () => {});
      s.resetAndDestroy();
    }
    await Promise.all(ended);
  }
}
