// test/renderer — vitest's own jsdom environment, made to load on Node 20. jsdom 31 (pinned) declares
// Node ≥ 22 and bundles undici 8, which takes two newer Node APIs when it loads and so fails on Node 20
// (this project's runtime) before any test runs:
//   zlib.createZstdDecompress (Node 22.15)  → a stub that throws if called: no renderer test fetches
//                                              zstd-encoded content;
//   worker_threads.markAsUncloneable (22.10) → a no-op: it only makes structuredClone refuse undici's
//                                              own objects, which no renderer test clones;
// and jsdom's tree iterators `extends Iterator` and use its helpers (.find, .filter, … : ES2025
// iterator helpers, Node 22) → a small polyfill of Iterator and its helpers, in this realm and in each
// new vm context (jsdom copies the global into its window's context).
// Each is put in place only when missing, then vitest's jsdom environment does the rest.
import vm from 'node:vm';
import workerThreads from 'node:worker_threads';
import zlib from 'node:zlib';
import { builtinEnvironments } from 'vitest/runtime';

const z = zlib as unknown as Record<string, unknown>;
if (typeof z.createZstdDecompress !== 'function') {
  z.createZstdDecompress = () => { throw new Error('zstd decompression needs Node ≥ 22.15'); };
}
const w = workerThreads as unknown as Record<string, unknown>;
if (typeof w.markAsUncloneable !== 'function') w.markAsUncloneable = () => {};
const ITERATOR_SHIM = `(() => {
  const P = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
  if (typeof globalThis.Iterator !== 'function') {
    const I = function Iterator() {};
    I.prototype = P;
    I.from = (it) => (typeof it.next === 'function' && !(Symbol.iterator in it) ? { __proto__: P, next: () => it.next() } : it[Symbol.iterator]());
    Object.defineProperty(globalThis, 'Iterator', { value: I, writable: true, configurable: true });
  }
  const def = (name, fn) => { if (!(name in P)) Object.defineProperty(P, name, { value: fn, writable: true, configurable: true }); };
  const each = function* (it) { for (let r = it.next(); !r.done; r = it.next()) yield r.value; };
  def('map', function* (f) { let i = 0; for (const v of each(this)) yield f(v, i++); });
  def('filter', function* (f) { let i = 0; for (const v of each(this)) if (f(v, i++)) yield v; });
  def('take', function* (n) { let i = 0; if (n <= 0) return; for (const v of each(this)) { yield v; if (++i >= n) return; } });
  def('drop', function* (n) { let i = 0; for (const v of each(this)) if (i++ >= n) yield v; });
  def('flatMap', function* (f) { let i = 0; for (const v of each(this)) yield* f(v, i++); });
  def('toArray', function () { return [...each(this)]; });
  def('forEach', function (f) { let i = 0; for (const v of each(this)) f(v, i++); });
  def('some', function (f) { let i = 0; for (const v of each(this)) if (f(v, i++)) return true; return false; });
  def('every', function (f) { let i = 0; for (const v of each(this)) if (!f(v, i++)) return false; return true; });
  def('find', function (f) { let i = 0; for (const v of each(this)) if (f(v, i++)) return v; return undefined; });
  def('reduce', function (f, ...init) {
    let i = 0, acc, started = init.length > 0;
    if (started) acc = init[0];
    for (const v of each(this)) { if (!started) { acc = v; started = true; i++; continue; } acc = f(acc, v, i++); }
    if (!started) throw new TypeError('Reduce of empty iterator with no initial value');
    return acc;
  });
})();`;
if (typeof (globalThis as Record<string, unknown>).Iterator !== 'function' || !('find' in Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())))) {
  vm.runInThisContext(ITERATOR_SHIM);
  const createContext = vm.createContext;
  (vm as { createContext: typeof vm.createContext }).createContext = ((...args: Parameters<typeof vm.createContext>) => {
    const ctx = createContext(...args);
    vm.runInContext(ITERATOR_SHIM, ctx);
    return ctx;
  }) as typeof vm.createContext;
}

export default builtinEnvironments.jsdom;
