// Connection-rate client and server of the ceiling experiment (same exchange as the bench's "once"
// kit port: connect, 64 B each way, the server closes). server: node cps.cjs serve HOST PORT;
// client: node cps.cjs run HOST PORT SECONDS LOOPS (prints connections/s after 2 s not counted).
const net = require('node:net');
const [, , cmd, host, port, seconds = '5', loops = '8'] = process.argv;
if (cmd === 'serve') {
  net.createServer((c) => { c.on('error', () => {}); c.once('data', (d) => { c.end(d); }); }).listen(Number(port), host);
} else {
  const msg = Buffer.alloc(64, 1);
  let done = 0, errors = 0, counting = false;
  const one = () => new Promise((resolve) => {
    const s = net.connect({ host, port: Number(port) });
    s.setNoDelay(true);
    let n = 0;
    s.on('connect', () => s.write(msg));
    s.on('data', (d) => { n += d.length; });
    s.on('error', () => { errors++; resolve(); });
    s.on('end', () => { if (counting && n === 64) done++; s.destroy(); resolve(); });
  });
  const end = Date.now() + 2000 + Number(seconds) * 1000;
  setTimeout(() => { counting = true; }, 2000);
  Promise.all(Array.from({ length: Number(loops) }, async () => { while (Date.now() < end) await one(); }))
    .then(() => { console.log(JSON.stringify({ perSec: Math.round(done / Number(seconds)), errors })); process.exit(0); });
}
