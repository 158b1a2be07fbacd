// Write-queue semantics of LinuxTunDevice with a fake libuv handle: a real TUN accepts writes at once,
// so the queued (async) path — reached only if write(2) would block — is exercised here.
import { describe, expect, it } from 'vitest';
import { LinuxTunDevice } from '../../../native/tun/linux.js';
import { silentLogger } from '../../../app/log.js';

const state: Int32Array = (process as any).binding('stream_wrap').streamBaseState;
const K_ASYNC: number = (process as any).binding('stream_wrap').kLastWriteWasAsync;

function fakeHandle(mode: { async: boolean; err?: number }) {
  const queued: Array<{ req: any; buf: Buffer }> = [];
  const writes: Buffer[] = [];
  const handle = {
    open: () => 0, readStart: () => 0, readStop: () => 0, onread: () => undefined,
    writeBuffer(req: any, buf: Buffer) {
      if (mode.err) return mode.err;
      writes.push(buf);
      state[K_ASYNC] = mode.async ? 1 : 0;
      if (mode.async) queued.push({ req, buf });
      return 0;
    },
    close(cb: () => void) { for (const q of queued.splice(0)) q.req.oncomplete.call(q.req, -125); setImmediate(cb); },
  };
  const complete = () => { const q = queued.shift()!; q.req.oncomplete.call(q.req, 0); };
  return { handle, writes, queued, complete };
}

describe('LinuxTunDevice write queue', () => {
  it('passes each packet to its own writeBuffer call and reuses the request while writes complete at once', () => {
    const f = fakeHandle({ async: false });
    const dev = new LinuxTunDevice('t0', 1500, 0, 'none', f.handle as any, 4096, silentLogger);
    const a = Buffer.alloc(100, 1), b = Buffer.alloc(100, 2);
    expect(dev.write(a)).toBe(true);
    expect(dev.write(b)).toBe(true);
    expect(f.writes).toEqual([a, b]);
    expect(dev.stats).toMatchObject({ txPackets: 2, txBytes: 200, queuedBytes: 0, txDropped: 0 });
  });

  it('bounds queued bytes: drops (returns false, counts) over the limit, accepts again after completion', () => {
    const f = fakeHandle({ async: true });
    const dev = new LinuxTunDevice('t0', 1500, 0, 'none', f.handle as any, 2500, silentLogger);
    const p = Buffer.alloc(1000);
    expect([dev.write(p), dev.write(p), dev.write(p)]).toEqual([true, true, false]);
    expect(dev.stats).toMatchObject({ queuedBytes: 2000, txDropped: 1, txPackets: 2 });
    expect(new Set(f.queued.map((q) => q.req)).size).toBe(2); // a queued write keeps its own request
    expect(f.queued[0]!.req.buffer).toBe(p); // and keeps the packet alive until done
    f.complete();
    expect(dev.stats.queuedBytes).toBe(1000);
    expect(dev.write(p)).toBe(true);
  });

  it('counts a kernel refusal as a tx error and never throws', () => {
    const dev = new LinuxTunDevice('t0', 1500, 0, 'none', fakeHandle({ async: false, err: -5 }).handle as any, 4096, silentLogger);
    expect(dev.write(Buffer.alloc(60))).toBe(false);
    expect(dev.stats).toMatchObject({ txErrors: 1, txPackets: 0 });
  });

  it('drops after close, cancels queued writes without counting errors, and close is idempotent', async () => {
    const f = fakeHandle({ async: true });
    const dev = new LinuxTunDevice('t0', 1500, 0, 'none', f.handle as any, 1 << 20, silentLogger);
    dev.write(Buffer.alloc(500));
    const c1 = dev.close();
    expect(dev.close()).toBe(c1);
    await c1;
    expect(dev.write(Buffer.alloc(60))).toBe(false);
    expect(dev.stats).toMatchObject({ queuedBytes: 0, txErrors: 0, txDropped: 1 });
  });
});
