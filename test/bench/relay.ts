// Relay micro-benchmark: one TCP stream client → relay → server over loopback (127.0.0.1) for a few
// seconds with each StreamRelay, printing goodput and the CPU this process spent (process.cpuUsage: the
// main thread and the splice worker together). Peers are iperf3 processes when iperf3 is installed (so
// their CPU is not counted here), else a Node child process of this same script (`--peer`).
//
//   iperf3 -c ──▶ front listener (pauseOnConnect) = a ══ relay ══ b ──▶ iperf3 -s
//
// Run: npm run build && node dist/test/bench/relay.js [--seconds 3] [--pipes 65536,262144,1048576]
//      [--rounds N] [--node-peers]
// A "direct" row (client straight to server) is the loopback ceiling of the same run.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { StreamRelay } from '../../app/os/relay.js';
import { JsRelay } from '../../app/engine/relay-js.js';
import { PIPE_BYTES, SpliceRelay } from '../../native/relay/linux-splice.js';

const HOST = '127.0.0.1';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A listener that joins each accepted connection to a fresh connection to `target` through `relay`. */
async function front(relay: StreamRelay, target: number): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (a) => {
    const b = net.connect({ host: HOST, port: target, allowHalfOpen: true, noDelay: true });
    b.pause();
    b.once('error', () => a.destroy());
    b.once('connect', () => relay.join(a, b, () => {}));
  });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return server;
}

function collect(child: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = '', err = '';
  child.stdout?.on('data', (d: Buffer) => { out += d; });
  child.stderr?.on('data', (d: Buffer) => { err += d; });
  return new Promise((r) => child.once('close', (code) => r({ code, out, err })));
}

/** Pushes bytes to `port` for `seconds`; resolves with receiver-side bit/s. */
async function iperfRun(serverPort: number, clientPort: number, seconds: number): Promise<number> {
  const server = spawn('iperf3', ['-s', '-1', '--forceflush', '-B', HOST, '-p', String(serverPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const serverDone = collect(server);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    server.stdout!.on('data', (d: Buffer) => { seen += d; if (seen.includes('listening')) resolve(); });
    server.once('close', () => reject(new Error(`iperf3 -s exited early: ${seen}`)));
  });
  const client = await collect(spawn('iperf3', ['-c', HOST, '-p', String(clientPort), '-t', String(seconds), '-J'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await serverDone;
  const j = JSON.parse(client.out) as { error?: string; end?: { sum_received?: { bits_per_second: number } } };
  if (j.error || !j.end?.sum_received) throw new Error(`iperf3 -c: ${j.error ?? client.err}`);
  return j.end.sum_received.bits_per_second;
}

/** Fallback peer (no iperf3): a child process of this script that runs the sink and the source. */
async function nodePeerRun(serverPort: number, clientPort: number, seconds: number): Promise<number> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--peer', String(serverPort), String(clientPort), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const r = await collect(child);
  if (r.code !== 0) throw new Error(`peer failed (${r.code})`);
  return Number(r.out.trim());
}

async function peer(serverPort: number, clientPort: number, seconds: number): Promise<void> {
  let bytes = 0;
  let t0 = 0n;
  const sink = net.createServer((s) => { s.on('data', (d: Buffer) => { bytes += d.length; }); s.on('error', () => {}); });
  await new Promise<void>((r) => sink.listen(serverPort, HOST, r));
  const chunk = Buffer.alloc(1 << 20, 0x5a);
  const c = net.connect({ host: HOST, port: clientPort, noDelay: true });
  c.on('error', () => {});
  await new Promise<void>((r) => c.once('connect', () => r()));
  t0 = process.hrtime.bigint();
  let running = true;
  const pump = () => { while (running && c.write(chunk)); };
  c.on('drain', pump);
  pump();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`${(bytes * 8) / elapsed}\n`);
  c.destroy();
  sink.close();
  process.exit(0);
}

interface Row { name: string; gbps: number; cpuS: number }

async function measure(name: string, relay: StreamRelay | null, seconds: number, useIperf: boolean): Promise<Row> {
  const serverPort = await freePort();
  const server = relay ? await front(relay, serverPort) : null;
  const clientPort = server ? (server.address() as net.AddressInfo).port : serverPort;
  const cpu0 = process.cpuUsage();
  const bps = useIperf ? await iperfRun(serverPort, clientPort, seconds) : await nodePeerRun(serverPort, clientPort, seconds);
  const cpu = process.cpuUsage(cpu0);
  if (server) await new Promise<void>((r) => server.close(() => r()));
  if (relay) await relay.close();
  return { name, gbps: bps / 1e9, cpuS: (cpu.user + cpu.system) / 1e6 };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--peer') { await peer(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])); return; }
  const seconds = Number(arg('seconds', '3'));
  const pipes = arg('pipes', String(PIPE_BYTES)).split(',').map(Number);
  const rounds = Number(arg('rounds', '1'));
  const useIperf = !process.argv.includes('--node-peers') && ['/usr/bin/iperf3', '/usr/local/bin/iperf3'].some((p) => existsSync(p));
  console.log(`relay bench: ${seconds} s per run, one TCP stream over ${HOST}, peers: ${useIperf ? 'iperf3' : 'node child process'}`);
  const rows: Row[] = [];
  for (let r = 0; r < rounds; r++) {
    rows.push(await measure('direct (no relay)', null, seconds, useIperf));
    rows.push(await measure('js', new JsRelay(), seconds, useIperf));
    for (const pipeBytes of pipes) {
      const relay = await SpliceRelay.start({ pipeBytes });
      rows.push(await measure(`splice (pipe ${relay.pipeBytes / 1024} KiB)`, relay, seconds, useIperf));
    }
  }
  console.log('relay                        Gbit/s   CPU s (this process)   CPU s per GB moved');
  for (const r of rows) {
    const gb = (r.gbps * seconds) / 8;
    console.log(`${r.name.padEnd(28)} ${r.gbps.toFixed(2).padStart(6)}   ${r.cpuS.toFixed(2).padStart(20)}   ${(r.cpuS / gb).toFixed(3).padStart(18)}`);
  }
}

await main();
