// Rule rate limits (app/engine/rate-limit.ts): token buckets with an injected clock, and the JS relay
// pacing a real loopback transfer with one.
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { RuleLimiters, TokenBucket } from '../../../app/engine/rate-limit.js';
import { JsRelay } from '../../../app/engine/relay-js.js';

describe('TokenBucket', () => {
  it('starts with a burst of a quarter second (at least 16 KiB), then refills at the rate', () => {
    const b = new TokenBucket(1_000_000, 0);
    expect(b.burst).toBe(250_000);
    expect(new TokenBucket(1000, 0).burst).toBe(16 * 1024);
    expect(b.take(250_000, 0)).toBe(0);
    // In debt by 100 kB at 1 MB/s: 100 ms to wait.
    expect(b.take(100_000, 0)).toBe(100);
    expect(b.take(0, 100)).toBe(0);
    // Never refills beyond the burst.
    expect(b.take(250_000, 10_000)).toBe(0);
    expect(b.take(1, 10_000)).toBe(1);
  });

  it('tryTake lets a datagram through only when its bytes are there', () => {
    const b = new TokenBucket(16 * 1024, 0);
    expect(b.tryTake(16 * 1024, 0)).toBe(true);
    expect(b.tryTake(1, 0)).toBe(false);
    expect(b.tryTake(1024, 62)).toBe(false);
    expect(b.tryTake(1024, 63)).toBe(true);
  });

  it('RuleLimiters share buckets per rule and rate, and forget rules that changed', () => {
    const l = new RuleLimiters();
    const a = l.get('r1', 1000);
    expect(l.get('r1', 1000)).toBe(a);
    expect(l.get('r1', 2000)).not.toBe(a);
    l.retain([{ id: 'r1', rateLimitBytesPerSec: 2000 }]);
    expect(l.get('r1', 1000)).not.toBe(a);
  });
});

describe('JsRelay with a rate limit', () => {
  it('paces a 1 MiB transfer to ~2 MiB/s (half a second, not instant)', async () => {
    const payload = Buffer.alloc(1024 * 1024, 1);
    let received = 0;
    const sink = net.createServer((s) => s.on('data', (d) => { received += d.length; }));
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
    const front = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (inbound) => {
      const out = net.connect({ port: (sink.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
      out.pause();
      out.once('connect', () => new JsRelay().join(inbound, out, () => undefined, undefined, { aToB: new TokenBucket(2 * 1024 * 1024) }));
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
    const t0 = Date.now();
    const c = net.connect((front.address() as net.AddressInfo).port, '127.0.0.1');
    c.end(payload);
    while (received < payload.length && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    const ms = Date.now() - t0;
    c.destroy(); front.close(); sink.close();
    expect(received).toBe(payload.length);
    // 1 MiB at 2 MiB/s with a 0.5 MiB burst: ≥ ~250 ms; unthrottled loopback takes a few ms.
    expect(ms).toBeGreaterThan(200);
    expect(ms).toBeLessThan(2000);
  });
});
