// Draws Switchyard's icons as PNG files, with no image tool: shapes as distance functions, 4×4
// supersampling, zlib from Node. Run after changing a shape: node build/icons/generate-icons.mjs
//   build/icons/icon.png                       512 px app icon (electron-builder: Linux, and the source for mac/win)
//   build/icons/tray/app.png                   256 px window icon
//   build/icons/tray/tray-<state>.png, @2x     16/32 px tray icons: on, off, error, disconnected
import { mkdirSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
/** RGBA pixels → PNG bytes (colour type 6, 8 bits, filter 0 on every row). */
function png(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

/** Renders layers [{ inside(x, y) → bool in unit coordinates 0..1, color [r,g,b,a] }] painted in order. */
function render(size, layers) {
  const out = Buffer.alloc(size * size * 4);
  const S = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const x = (px + (sx + 0.5) / S) / size, y = (py + (sy + 0.5) / S) / size;
          let cr = 0, cg = 0, cb = 0, ca = 0;
          for (const l of layers) {
            if (!l.inside(x, y)) continue;
            const la = l.color[3] / 255;
            cr = l.color[0] * la + cr * (1 - la); cg = l.color[1] * la + cg * (1 - la); cb = l.color[2] * la + cb * (1 - la);
            ca = la + ca * (1 - la);
          }
          r += cr; g += cg; b += cb; a += ca;
        }
      }
      const n = S * S, i = (py * size + px) * 4;
      const alpha = a / n;
      out[i] = alpha ? Math.round(r / n / alpha) : 0; out[i + 1] = alpha ? Math.round(g / n / alpha) : 0; out[i + 2] = alpha ? Math.round(b / n / alpha) : 0;
      out[i + 3] = Math.round(alpha * 255);
    }
  }
  return png(size, out);
}

const circle = (cx, cy, r) => (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
const ring = (cx, cy, r0, r1) => (x, y) => { const d = (x - cx) ** 2 + (y - cy) ** 2; return d <= r1 * r1 && d >= r0 * r0; };
const rect = (x0, y0, x1, y1) => (x, y) => x >= x0 && x <= x1 && y >= y0 && y <= y1;
const roundRect = (x0, y0, x1, y1, rad) => (x, y) => {
  if (!rect(x0, y0, x1, y1)(x, y)) return false;
  const cx = Math.min(Math.max(x, x0 + rad), x1 - rad), cy = Math.min(Math.max(y, y0 + rad), y1 - rad);
  return (x - cx) ** 2 + (y - cy) ** 2 <= rad * rad;
};
/** A thick segment from (x0,y0) to (x1,y1) with half-width w. */
const segment = (x0, y0, x1, y1, w) => (x, y) => {
  const dx = x1 - x0, dy = y1 - y0;
  const t = Math.max(0, Math.min(1, ((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy)));
  return (x - x0 - t * dx) ** 2 + (y - y0 - t * dy) ** 2 <= w * w;
};

const WHITE = [255, 255, 255, 255], INK = [22, 24, 29, 255];
const GREEN = [46, 160, 67, 255], GREY = [139, 148, 158, 255], RED = [218, 54, 51, 255];

/** The switch glyph: a track that forks (one line in, two out). */
const fork = (w) => [segment(0.5, 0.78, 0.5, 0.5, w), segment(0.5, 0.5, 0.3, 0.24, w), segment(0.5, 0.5, 0.7, 0.24, w)];

const TRAY = {
  on: [{ inside: circle(0.5, 0.5, 0.47), color: GREEN }, ...fork(0.07).map((inside) => ({ inside, color: WHITE }))],
  off: [{ inside: circle(0.5, 0.5, 0.47), color: GREY }, ...fork(0.07).map((inside) => ({ inside, color: WHITE }))],
  error: [{ inside: circle(0.5, 0.5, 0.47), color: RED }, { inside: roundRect(0.43, 0.2, 0.57, 0.6, 0.05), color: WHITE }, { inside: circle(0.5, 0.74, 0.075), color: WHITE }],
  disconnected: [{ inside: ring(0.5, 0.5, 0.36, 0.47), color: GREY }, { inside: segment(0.22, 0.78, 0.78, 0.22, 0.055), color: GREY }],
};

const APP = [
  { inside: roundRect(0.06, 0.06, 0.94, 0.94, 0.2), color: INK },
  ...[segment(0.5, 0.82, 0.5, 0.52, 0.055), segment(0.5, 0.52, 0.28, 0.2, 0.055)].map((inside) => ({ inside, color: GREY })),
  { inside: segment(0.5, 0.52, 0.72, 0.2, 0.055), color: GREEN },
];

mkdirSync(`${here}tray`, { recursive: true });
for (const [name, layers] of Object.entries(TRAY)) {
  writeFileSync(`${here}tray/tray-${name}.png`, render(16, layers));
  writeFileSync(`${here}tray/tray-${name}@2x.png`, render(32, layers));
}
writeFileSync(`${here}tray/app.png`, render(256, APP));
writeFileSync(`${here}icon.png`, render(512, APP));
