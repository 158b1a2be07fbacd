// Bench step: the service with many live sessions (issue 3 and issue 7). A Node script in the client
// namespace opens N UDP sessions (one socket, one datagram to each of N destination ports — UDP keeps
// the file-descriptor count flat where TCP would need two sockets per session), then we read the
// service's RSS, time `sessions.list` pages over the control socket, and read the attribution
// counters from `status`.
import { execIn } from '../support/netns.js';
import { ControlClient } from '../../app/control/client.js';
import type { ServiceProcess } from '../support/service.js';

const SENDER_PORT = 40404;

export interface SessionsFigures {
  sessions: number;
  rssKiB: number;
  /** sessions.list, 100 rows sorted by bytes, p50 and p99 over 30 calls (ms). */
  pageP50ms: number;
  pageP99ms: number;
  attribution?: { lookups: number; found: number; unknown: number; meanUs: number };
}

/** Opens sessions up to `total` live (ports from `firstPort`), then measures. */
export async function measureSessions(ns: string, target: string, svc: ServiceProcess, socketPath: string, total: number, firstPort: number): Promise<SessionsFigures> {
  // Paced at ~20k new flows per second, two passes: each new flow costs the service a session and a
  // process lookup, and a faster burst overflows the TUN queue (the second pass fills any gap;
  // datagrams of existing sessions just count).
  const script = `
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
s.bind(${SENDER_PORT}); // the same app endpoint in every step: later steps add to the earlier sessions
const n = ${total}, first = ${firstPort}, buf = Buffer.from('x');
let i = 0, pass = 0;
function burst() {
  for (let k = 0; k < 100 && i < n; k++, i++) s.send(buf, first + (i % 50000), '${target}');
  if (i < n) return setTimeout(burst, 5);
  if (++pass < 2) { i = 0; return setTimeout(burst, 200); }
  setTimeout(() => process.exit(0), 300);
}
burst();`;
  await execIn(ns, process.execPath, ['-e', script], { timeoutMs: 120_000 });
  const client = await ControlClient.connect({ socketPath, clientName: 'bench' });
  try {
    let live = 0;
    for (let t = 0; t < 100; t++) {
      live = (await client.api.status({})).counts.sessions.udp;
      if (live >= total * 0.98) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1500)); // a stats tick with them all
    const times: number[] = [];
    for (let k = 0; k < 30; k++) {
      const t0 = process.hrtime.bigint();
      await client.api.sessionsList({ limit: 100, sort: { field: 'bytesIn', order: 'desc' } });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    const status = await client.api.status({});
    return {
      sessions: live, rssKiB: await svc.rssKiB(),
      pageP50ms: times[Math.floor(times.length / 2)]!, pageP99ms: times[times.length - 1]!,
      ...(status.attribution ? { attribution: status.attribution } : {}),
    };
  } finally {
    client.close();
  }
}
