// Rate limits of rules (`rateLimitBytesPerSec`): one token bucket per rule and direction, shared by
// every flow the rule claims, so "this app at 1 MB/s" holds however many connections it opens.
//
//   TCP: the relay reads a chunk, forwards it, takes its size from the bucket; in debt, it stops
//        reading that side until the debt is paid (the sender's TCP window closes: real backpressure).
//   UDP: a datagram that finds too few tokens is dropped (what a policer on a router does).
//
// A bucket holds at most BURST_SECONDS of its rate (at least MIN_BURST bytes), so a quiet flow may
// send a short burst, and a long transfer averages the rate.

const BURST_SECONDS = 0.25;
const MIN_BURST = 16 * 1024;

export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  #tokens: number;
  #at: number;

  /** `rate` bytes per second; `now` in ms (injectable for tests). */
  constructor(rate: number, now = Date.now()) {
    this.rate = rate;
    this.burst = Math.max(MIN_BURST, Math.floor(rate * BURST_SECONDS));
    this.#tokens = this.burst;
    this.#at = now;
  }

  #refill(now: number): void {
    const elapsed = now - this.#at;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.rate) / 1000);
      this.#at = now;
    }
  }

  /** Takes n bytes that were already moved (may go into debt); returns how long to wait (ms) before moving more. */
  take(n: number, now = Date.now()): number {
    this.#refill(now);
    this.#tokens -= n;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.rate);
  }

  /** Takes n bytes if they are there (a datagram passes), else takes nothing (it is dropped). */
  tryTake(n: number, now = Date.now()): boolean {
    this.#refill(now);
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }
}

/** The buckets of one rule: towards the destination (out) and towards the app (in). */
export interface RuleLimiter {
  readonly out: TokenBucket;
  readonly in: TokenBucket;
}

/** Buckets by rule id and rate; a rule whose rate changed gets fresh buckets. */
export class RuleLimiters {
  readonly #byRule = new Map<string, RuleLimiter>();

  get(ruleId: string, rate: number): RuleLimiter {
    const key = `${ruleId}\u0000${rate}`;
    let l = this.#byRule.get(key);
    if (!l) this.#byRule.set(key, (l = { out: new TokenBucket(rate), in: new TokenBucket(rate) }));
    return l;
  }

  /** Forgets buckets of rules that are gone or changed (after a rule change). */
  retain(live: ReadonlyArray<{ id: string; rateLimitBytesPerSec?: number }>): void {
    const keep = new Set(live.filter((r) => r.rateLimitBytesPerSec).map((r) => `${r.id}\u0000${r.rateLimitBytesPerSec}`));
    for (const k of this.#byRule.keys()) if (!keep.has(k)) this.#byRule.delete(k);
  }
}
