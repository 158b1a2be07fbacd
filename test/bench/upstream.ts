// Bench step (issue 4): TCP throughput through a SOCKS5 upstream, two ways, same run, same proxy:
//   reference:  client program ──SOCKS5 itself──▶ dante (server ns) ──▶ sink (server ns)
//   switchyard: client program ──plain TCP──▶ TUN ─▶ Switchyard ──SOCKS5 (rule)──▶ dante ──▶ sink
// The client program is the same Node script either way (with or without its own SOCKS5 handshake);
// it downloads (or uploads) for a fixed time and reports bytes per second as the receiver saw them.
import { execIn } from '../support/netns.js';

/** The sink: on each connection, either streams zeros ("D") or swallows what comes ("U"), by the first byte. */
export const SINK_SCRIPT = `
const net = require('node:net');
const [port, host] = process.argv.slice(1);
const zeros = Buffer.alloc(256 * 1024);
net.createServer((s) => {
  s.on('error', () => {});
  s.once('data', (first) => {
    if (first[0] === 0x44) { // 'D': send until the client goes
      const pump = () => { while (s.write(zeros)) {} };
      s.on('drain', pump); pump();
    } else {
      s.on('data', () => {}); s.resume();
    }
  });
}).listen(Number(port), host);`;

/** The client: connects (optionally via SOCKS5 at proxyHost:proxyPort), runs `dir` for `seconds`, prints bytes/s. */
const CLIENT_SCRIPT = `
const net = require('node:net');
const [host, port, dir, seconds, proxyHost, proxyPort] = process.argv.slice(1);
const zeros = Buffer.alloc(256 * 1024);
function run(sock) {
  let bytes = 0, t0 = 0;
  const done = () => { const s = (Date.now() - t0) / 1000; console.log(JSON.stringify({ bps: bytes * 8 / s, bytes, s })); process.exit(0); };
  sock.write(dir === 'down' ? 'D' : 'U');
  t0 = Date.now();
  setTimeout(done, Number(seconds) * 1000);
  if (dir === 'down') { sock.on('data', (d) => { bytes += d.length; }); }
  else { const pump = () => { while (sock.write(zeros)) bytes += zeros.length; }; sock.on('drain', pump); pump(); }
}
const sock = net.connect(proxyHost ? { host: proxyHost, port: Number(proxyPort) } : { host, port: Number(port) });
sock.setNoDelay(true);
sock.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });
if (!proxyHost) sock.on('connect', () => run(sock));
else sock.on('connect', () => {
  sock.write(Buffer.from([5, 1, 0]));
  let stage = 0, buf = Buffer.alloc(0);
  const onData = (d) => {
    buf = Buffer.concat([buf, d]);
    if (stage === 0 && buf.length >= 2) {
      buf = buf.subarray(2); stage = 1;
      const a = host.split('.').map(Number);
      sock.write(Buffer.from([5, 1, 0, 1, ...a, Number(port) >> 8, Number(port) & 255]));
    }
    if (stage === 1 && buf.length >= 10) {
      if (buf[1] !== 0) { console.log(JSON.stringify({ error: 'socks reply ' + buf[1] })); process.exit(1); }
      sock.off('data', onData); stage = 2; run(sock);
    }
  };
  sock.on('data', onData);
});`;

/** One timed run from `ns`; via = the proxy when the client speaks SOCKS5 itself. */
export async function socksThroughput(ns: string, target: string, port: number, dir: 'down' | 'up', seconds: number, via?: { host: string; port: number }): Promise<number> {
  const args = ['-e', CLIENT_SCRIPT, target, String(port), dir, String(seconds), ...(via ? [via.host, String(via.port)] : [])];
  const r = await execIn(ns, process.execPath, args, { allowFail: true, timeoutMs: (seconds + 20) * 1000 });
  const j = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { bps?: number; error?: string };
  if (!j.bps) throw new Error(`socks throughput run (${dir}${via ? ' via proxy' : ''}) failed: ${r.stdout}${r.stderr}`);
  return j.bps;
}
