// service — edits the user's config file for the control API: parse the YAML text, apply an edit to
// the Document, print it back into the user's own text, validate, then replace the file atomically.
//
//   ConfigStore.update(edit, validate) — one at a time per store (a promise queue):
//     read file (text + version) ─► parseDocument ─► edit(doc) ─► render ─► validate(text) ─► writeFileAtomic
//          ▲                                                                                  │
//          └───────── file changed between read and rename (a hand edit): run again ◄─────────┘
//
// Invariants a caller can rely on:
// - A reader sees the old or the new file, never a mix, after a crash, kill -9 or power loss: the text
//   goes to a temp file in the same directory (O_EXCL, the old file's owner and mode), is fsync'd,
//   renamed over the file, and the directory is fsync'd. Any failure before the rename (validation,
//   ENOSPC, EDQUOT, EIO, EACCES) removes the temp file and leaves the file byte-identical.
// - Text the edit did not touch is copied byte for byte (aligned comments, quoting, blank lines, key
//   order); only edited items are printed by the yaml library. When that splice cannot be proved
//   right (the re-parsed result differs from the edited Document), the whole Document is printed by
//   the library instead: comments are still kept, alignment is not.
// - Temp files are named `.<name>.tmp-<pid>-<hex>`; `ConfigStore.open` deletes those of dead pids.
import { open } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import {
  Document, isCollection, isMap, isNode, isPair, isScalar, isSeq, parseDocument, Scalar, YAMLMap, YAMLSeq,
  type Node, type Pair, type ToStringOptions,
} from 'yaml';
import { keyPath, show } from '../validation.js';
import { ConfigError } from './config.js';
import { writeFileAtomic, removeStaleTempFiles, FileChangedError, versionOf, errnoName, errnoText, type FileVersion } from './atomic-file.js';

// The atomic writer lives in atomic-file.ts (the routing journal uses it too); re-exported here for
// callers of the config store.
export { writeFileAtomic, removeStaleTempFiles, FileWriteError, FileChangedError, type FileVersion, type WriteFileAtomicOptions } from './atomic-file.js';

// ───────────────────────────── the config store ─────────────────────────────

/** The parse options of parseConfig, so the store edits exactly what the service reads. */
const PARSE_OPTIONS = { uniqueKeys: true, version: '1.2', prettyErrors: true } as const;

// A hand edit landing between our read and our rename makes us read and edit again; more than this
// many in a row means someone rewrites the file in a loop.
const MAX_ATTEMPTS = 3;

export interface ConfigStoreOptions {
  /** Keep the version before each update as `<file>.bak` (default true). */
  backup?: boolean;
}

/** The user's config file, edited through YAML Documents; updates are serialized and atomic. */
export class ConfigStore {
  #text: string;
  #tail: Promise<unknown> = Promise.resolve();
  readonly #backup: boolean;

  private constructor(
    readonly path: string,
    text: string,
    /** Stale temp files of dead writers that `open` deleted. */
    readonly removedTempFiles: string[],
    backup: boolean,
  ) {
    this.#text = text;
    this.#backup = backup;
  }

  /** Reads the file (it must exist) and deletes temp files that crashed writers left next to it. */
  static async open(path: string, opts: ConfigStoreOptions = {}): Promise<ConfigStore> {
    const { text } = await readVersioned(path);
    const removed = await removeStaleTempFiles(path);
    return new ConfigStore(path, text, removed, opts.backup ?? true);
  }

  /** The text as last read or written by this store. */
  get text(): string {
    return this.#text;
  }

  /**
   * Reads the file again, applies `edit` to its Document, validates the new text and replaces the
   * file atomically; resolves to the new text. A throw from `edit` or `validate`, or a file that does
   * not parse, writes nothing. `edit` may run more than once (when the file changes underneath), so
   * it must depend only on the Document. An edit that changes nothing writes nothing.
   */
  update(edit: (doc: Document) => void, validate: (text: string) => void | Promise<void>): Promise<string> {
    const run = this.#tail.then(() => this.#update(edit, validate));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #update(edit: (doc: Document) => void, validate: (text: string) => void | Promise<void>): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const { text, version } = await readVersioned(this.path);
      this.#text = text;
      const next = editYamlText(text, edit, this.path);
      await validate(next);
      if (next === text) return text;
      try {
        await writeFileAtomic(this.path, next, { backup: this.#backup, ifVersion: version });
      } catch (e) {
        if (e instanceof FileChangedError && attempt < MAX_ATTEMPTS) continue;
        throw e;
      }
      this.#text = next;
      return next;
    }
  }
}

/** Text and version from one open file description, so they belong together. */
async function readVersioned(path: string): Promise<{ text: string; version: FileVersion }> {
  try {
    const fh = await open(path, 'r');
    try {
      const version = versionOf(await fh.stat({ bigint: true }));
      return { text: await fh.readFile('utf8'), version };
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new ConfigError(path, [`${JSON.stringify(path)}: cannot read the config file (${errnoName(e)}${errnoText(e) ? `: ${errnoText(e)}` : ''})`]);
  }
}

/**
 * Parses `text`, applies `edit` and prints the result keeping every untouched byte where it can.
 * Throws ConfigError when `text` is not valid YAML (nothing to edit safely).
 */
export function editYamlText(text: string, edit: (doc: Document) => void, source = 'config'): string {
  const doc = parseDocument(text, PARSE_OPTIONS);
  if (doc.errors.length > 0) {
    throw new ConfigError(source, doc.errors.map((e) => {
      const at = e.linePos?.[0];
      const first = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      return at ? `line ${at.line}, column ${at.col}: ${first}` : first;
    }));
  }
  const snaps = snapshot(doc);
  const style = detectStyle(text, doc);
  edit(doc as unknown as Document);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const spliced = render({ text, snaps, style, eol }, doc);
  if (spliced !== null && sameData(spliced, doc)) return spliced;
  const printed = doc.toString(style);
  return eol === '\n' ? printed : printed.replace(/\r?\n/g, eol);
}

function sameData(text: string, doc: Document.Parsed): boolean {
  const again = parseDocument(text, PARSE_OPTIONS);
  return again.errors.length === 0 && isDeepStrictEqual(again.toJS({ maxAliasCount: 100 }), doc.toJS({ maxAliasCount: 100 }));
}

// ───────────────────────────── Document edit helpers ─────────────────────────────
//
// Each edits one item so that comments on every other item stay where they are. Missing parents are
// created (also in an empty or comments-only file, and for `key:` / `key: ~`); an existing value of
// the wrong kind is a TypeError naming the key path. Comments written directly above an item belong
// to it: they move with seqMove and go with seqRemove.

/** Keys (strings) and sequence indexes (numbers) from the document root, e.g. ['rules', 2, 'action']. */
export type YamlPath = readonly (string | number)[];

/** Inserts `value` before item `index` of the sequence at `path` ('end' appends). */
export function seqInsert(doc: Document, path: YamlPath, index: number | 'end', value: unknown): void {
  const seq = collectionAt(doc, path, 'seq', true) as YAMLSeq;
  const at = index === 'end' ? seq.items.length : index;
  checkIndex(path, at, seq.items.length + 1);
  if (seq.flow && seq.items.length === 0) seq.flow = false; // `rules: []` grows into a block list
  seq.items.splice(at, 0, isNode(value) ? value : doc.createNode(value));
}

/**
 * Replaces item `index` with `value`. A mapping replaced by a mapping (a list by a list) is updated
 * in place: unchanged fields keep their comments and style, removed fields go, new fields are added last.
 */
export function seqReplace(doc: Document, path: YamlPath, index: number, value: unknown): void {
  const seq = collectionAt(doc, path, 'seq', false);
  if (!seq) throw new RangeError(`${keyPath(path)}: there is no list`);
  checkIndex(path, index, seq.items.length);
  seq.items[index] = assign(doc, seq.items[index], value);
}

/** Removes item `index` (and the comment lines above it); returns its plain value. */
export function seqRemove(doc: Document, path: YamlPath, index: number): unknown {
  const seq = collectionAt(doc, path, 'seq', false);
  if (!seq) throw new RangeError(`${keyPath(path)}: there is no list`);
  checkIndex(path, index, seq.items.length);
  const [node] = seq.items.splice(index, 1);
  return isNode(node) ? node.toJS(doc) : node;
}

/** Moves item `from` so that it ends up at index `to`, with the comment lines above it. */
export function seqMove(doc: Document, path: YamlPath, from: number, to: number): void {
  const seq = collectionAt(doc, path, 'seq', false);
  if (!seq) throw new RangeError(`${keyPath(path)}: there is no list`);
  checkIndex(path, from, seq.items.length);
  checkIndex(path, to, seq.items.length);
  const [node] = seq.items.splice(from, 1);
  seq.items.splice(to, 0, node);
}

/**
 * Sets the value at `path` (the last element a key, or an index into an existing list), creating
 * missing mappings. Mappings and lists are updated in place like seqReplace; a changed scalar keeps
 * its trailing comment, quoting and number format (0x5359 stays hex).
 */
export function mapSet(doc: Document, path: YamlPath, value: unknown): void {
  if (path.length === 0) throw new RangeError('mapSet needs a key path');
  const key = path[path.length - 1]!;
  const parentPath = path.slice(0, -1);
  if (typeof key === 'number') return seqReplace(doc, parentPath, key, value);
  const map = collectionAt(doc, parentPath, 'map', true) as YAMLMap;
  if (map.flow && map.items.length === 0) map.flow = false;
  const pair = findPair(map, key);
  if (pair) pair.value = assign(doc, pair.value, value);
  else map.items.push(doc.createPair(key, value));
}

/** Deletes the key at `path` with the comment lines above it; false when it was not there. */
export function mapDelete(doc: Document, path: YamlPath): boolean {
  if (path.length === 0) throw new RangeError('mapDelete needs a key path');
  const key = path[path.length - 1]!;
  const parent = collectionAt(doc, path.slice(0, -1), typeof key === 'number' ? 'seq' : 'map', false);
  if (!parent) return false;
  if (typeof key === 'number') {
    if (key < 0 || key >= parent.items.length) return false;
    parent.items.splice(key, 1);
    return true;
  }
  const pair = findPair(parent as YAMLMap, key);
  if (!pair) return false;
  parent.items.splice((parent.items as unknown[]).indexOf(pair), 1);
  return true;
}

function checkIndex(path: YamlPath, index: number, limit: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= limit) {
    throw new RangeError(`${keyPath(path)}: index ${index} is out of range 0..${limit - 1}`);
  }
}

function isNullish(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && (node.value === null || node.value === undefined));
}

function findPair(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === key);
}

function describeNode(node: unknown): string {
  if (isSeq(node)) return 'a list';
  if (isMap(node)) return 'a mapping';
  return show(isScalar(node) ? node.value : node);
}

/**
 * The sequence or mapping at `path`. With `create`, missing or null parents and the target itself are
 * created (a null keeps its comments); without, a missing one is null. A wrong kind throws TypeError.
 */
function collectionAt(doc: Document, path: YamlPath, kind: 'seq' | 'map', create: boolean): YAMLSeq | YAMLMap | null {
  const kindAt = (i: number): 'seq' | 'map' => (i < path.length ? (typeof path[i] === 'number' ? 'seq' : 'map') : kind);
  const make = (k: 'seq' | 'map', was: unknown): YAMLSeq | YAMLMap => {
    const c = k === 'seq' ? new YAMLSeq(doc.schema) : new YAMLMap(doc.schema);
    carryComments(was, c);
    return c;
  };
  let node: unknown = doc.contents;
  if (isNullish(node)) {
    if (!create) return null;
    node = doc.contents = make(kindAt(0), node);
  }
  for (let i = 0; i < path.length; i++) {
    const step = path[i]!;
    const want = kindAt(i + 1);
    let child: unknown;
    if (typeof step === 'number') {
      if (!isSeq(node)) throw new TypeError(`${keyPath(path.slice(0, i))} is ${describeNode(node)}, not a list`);
      checkIndex(path.slice(0, i), step, node.items.length);
      child = node.items[step];
      if (isNullish(child)) {
        if (!create) return null;
        child = node.items[step] = make(want, child);
      }
    } else {
      if (!isMap(node)) throw new TypeError(`${keyPath(path.slice(0, i))} is ${describeNode(node)}, not a mapping`);
      const pair = findPair(node, step);
      child = pair?.value;
      if (isNullish(child)) {
        if (!create) return null;
        if (node.flow && node.items.length === 0) node.flow = false;
        child = make(want, child);
        if (pair) pair.value = child as Node;
        else node.items.push(doc.createPair(step, child));
      }
    }
    node = child;
  }
  if (kind === 'seq' ? !isSeq(node) : !isMap(node)) {
    throw new TypeError(`${keyPath(path)} is ${describeNode(node)}, not ${kind === 'seq' ? 'a list' : 'a mapping'}`);
  }
  return node as YAMLSeq | YAMLMap;
}

/** `old` updated to hold `value`, in place where the kinds match, so comments and style stay. */
function assign(doc: Document, old: unknown, value: unknown): unknown {
  if (isNode(value)) return value;
  if (isMap(old) && isPlainObject(value)) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    const keep = new Set(entries.map(([k]) => k));
    old.items = old.items.filter((p) => keep.has(String(isScalar(p.key) ? p.key.value : p.key)));
    for (const [k, v] of entries) {
      const pair = findPair(old, k);
      if (pair) pair.value = assign(doc, pair.value, v);
      else old.items.push(doc.createPair(k, v));
    }
    return old;
  }
  if (isSeq(old) && Array.isArray(value)) {
    old.items.length = Math.min(old.items.length, value.length);
    value.forEach((v, i) => { old.items[i] = i < old.items.length ? assign(doc, old.items[i], v) : doc.createNode(v); });
    return old;
  }
  if (isScalar(old) && old.value !== null && typeof old.value === typeof value && (typeof value !== 'object' || value === null)) {
    if (old.value !== value) {
      old.value = value;
      if (typeof value === 'number' && !Number.isInteger(value)) old.format = undefined; // no hex fractions
    }
    return old;
  }
  const node = doc.createNode(value);
  carryComments(old, node);
  return node;
}

function carryComments(from: unknown, to: Node): void {
  if (!isNode(from)) return;
  to.commentBefore = from.commentBefore;
  to.comment = from.comment;
  to.spaceBefore = from.spaceBefore;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

// ───────────────────────────── printing into the user's text ─────────────────────────────
//
// A block collection's source is cut into one span per item: the comment/blank lines above the item
// (its lead) and the item's own lines (its body). Item 0 has no lead (what precedes it belongs to the
// parent: `rules:\n  # about the list\n  `); comment lines after the last item are the tail.
//
//   rules:                      ┐ parent's text
//     # about the list          ┘
//     - name: a   # inline      ┐ item 0 body
//       action: direct          ┘
//     # about b                 ┐ item 1 lead
//     - name: b                 ┘ item 1 body
//
// The edited collection is printed as its items in their new order: an unchanged item is its span,
// a changed one is its span with the changed scalar or nested block collection printed in place, a
// new one is printed by the yaml library and indented to the collection's column.

type Fields = readonly unknown[];
interface Snap { fields: Fields; children: readonly unknown[] }
interface Ctx { text: string; snaps: WeakMap<object, Snap>; style: ToStringOptions; eol: string }
interface Span { lead: string; body: string; start: number; end: number }

const FIELDS = ['value', 'type', 'format', 'minFractionDigits', 'source', 'tag', 'anchor', 'comment', 'commentBefore', 'spaceBefore', 'flow'] as const;
const SCALAR_VALUE_FIELDS = new Set<(typeof FIELDS)[number]>(['value', 'type', 'format', 'minFractionDigits', 'source']);

function fieldsOf(x: object): Fields {
  return isPair(x) ? [] : FIELDS.map((f) => (x as Record<string, unknown>)[f]);
}

function childrenOf(x: unknown): readonly unknown[] {
  if (isPair(x)) return [x.key, x.value];
  if (isCollection(x)) return x.items;
  return [];
}

function snapshot(doc: Document.Parsed): WeakMap<object, Snap> {
  const snaps = new WeakMap<object, Snap>();
  snaps.set(doc, { fields: [doc.commentBefore, doc.comment, doc.contents], children: [] });
  const walk = (x: unknown): void => {
    if (x === null || typeof x !== 'object' || snaps.has(x)) return;
    const children = childrenOf(x);
    snaps.set(x, { fields: fieldsOf(x), children: [...children] });
    children.forEach(walk);
  };
  walk(doc.contents);
  return snaps;
}

function sameList(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

function ownFieldsUnchanged(ctx: Ctx, x: object): boolean {
  const s = ctx.snaps.get(x);
  return s !== undefined && sameList(fieldsOf(x), s.fields);
}

/** Names of the fields of original node `x` that the edit changed. */
function changedFields(ctx: Ctx, x: object): (typeof FIELDS)[number][] {
  const was = ctx.snaps.get(x)!.fields;
  const now = fieldsOf(x);
  return FIELDS.filter((_, f) => !Object.is(was[f], now[f]));
}

function unchanged(ctx: Ctx, x: unknown): boolean {
  if (x === null || typeof x !== 'object') return false;
  const s = ctx.snaps.get(x);
  if (!s || !sameList(fieldsOf(x), s.fields)) return false;
  const children = childrenOf(x);
  return sameList(children, s.children) && children.every((c) => c === null || c === undefined || unchanged(ctx, c));
}

/** The edited document as the original text with only the edited parts replaced, or null if it cannot be. */
function render(ctx: Ctx, doc: Document.Parsed): string | null {
  const s = ctx.snaps.get(doc)!;
  if (!sameList([doc.commentBefore, doc.comment, doc.contents], s.fields)) return null;
  const root = doc.contents;
  if (unchanged(ctx, root)) return ctx.text;
  if (!isCollection(root)) return null;
  const r = renderBlock(ctx, root);
  return r && ctx.text.slice(0, root.range![0]) + r.text + ctx.text.slice(r.end);
}

/** Replacement text for the source of block collection `c`, from `c.range[0]` to `end`. */
function renderBlock(ctx: Ctx, c: YAMLMap | YAMLSeq): { text: string; end: number } | null {
  const snap = ctx.snaps.get(c);
  if (!snap || c.flow || !c.range || !ownFieldsUnchanged(ctx, c) || c.items.length === 0) return null;
  const spans = itemSpans(ctx.text, c, snap.children);
  if (!spans) return null;
  const col = c.range[0] - ctx.text.lastIndexOf('\n', c.range[0] - 1) - 1;
  const pad = ' '.repeat(col);
  let out = '';
  const items = c.items as unknown[];
  for (let j = 0; j < items.length; j++) {
    const item = items[j];
    const i = snap.children.indexOf(item);
    const span = i >= 0 ? spans.items[i]! : null;
    const piece = (span && renderItem(ctx, item, span)) ?? generateItem(ctx, c, item, span, pad);
    if (!piece) return null;
    let body = piece.body;
    if (j < items.length - 1 && !body.endsWith('\n')) body += ctx.eol;
    if (j > 0) out += piece.lead + pad + body;
    else {
      // The parent's text already ends with this column's indentation (or a `- `).
      const lead = piece.lead.replace(/^(?:[ \t]*\r?\n)+/, '').trimStart();
      out += (lead ? lead + pad : '') + body;
    }
  }
  return { text: out + spans.tail, end: spans.end };
}

/** Cuts the original source of `c` into per-item spans; null if its layout is not the plain one. */
function itemSpans(text: string, c: YAMLMap | YAMLSeq, items: readonly unknown[]): { items: Span[]; tail: string; end: number } | null {
  const spans: Span[] = [];
  let prev = c.range![0];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    let start: number, valueEnd: number;
    if (isPair(item)) {
      if (!isNode(item.key) || !item.key.range) return null;
      start = item.key.range[0];
      valueEnd = Math.max(item.key.range[1], isNode(item.value) && item.value.range ? item.value.range[1] : 0);
    } else {
      if (!isNode(item) || !item.range) return null;
      let p = item.range[0] - 1;
      while (p >= 0 && ' \t\r\n'.includes(text[p]!)) p--;
      if (text[p] !== '-') return null; // `- &anchor x`, `- # comment` …: not the plain layout
      start = p;
      valueEnd = item.range[1];
    }
    const lineStart = i === 0 ? start : text.lastIndexOf('\n', start - 1) + 1;
    if (i === 0 ? start !== c.range![0] : start < prev || !/^[ \t]*$/.test(text.slice(lineStart, start))) return null;
    const lead = text.slice(prev, lineStart);
    if (!onlyCommentLines(lead)) return null;
    const end = lineEndAfter(text, Math.max(valueEnd, start + 1));
    spans.push({ lead, body: text.slice(start, end), start, end });
    prev = end;
  }
  const tail = prev < c.range![1] ? text.slice(prev, c.range![1]) : '';
  if (!onlyCommentLines(tail)) return null;
  return { items: spans, tail, end: Math.max(prev, c.range![1]) };
}

function lineEndAfter(text: string, pos: number): number {
  if (pos > 0 && text[pos - 1] === '\n') return pos;
  const nl = text.indexOf('\n', pos);
  return nl < 0 ? text.length : nl + 1;
}

function onlyCommentLines(s: string): boolean {
  return s.split('\n').every((line) => /^[ \t]*(?:#.*)?\r?$/.test(line));
}

/** An original item with its changes printed in place, or null when it must be printed anew. */
function renderItem(ctx: Ctx, item: unknown, span: Span): { lead: string; body: string } | null {
  if (unchanged(ctx, item)) return span;
  let node: unknown = item;
  if (isPair(item)) {
    const before = ctx.snaps.get(item)!.children;
    if (item.key !== before[0] || !unchanged(ctx, item.key) || item.value !== before[1]) return null;
    node = item.value;
  }
  let replacement: { from: number; to: number; text: string } | null = null;
  if (isScalar(node)) {
    const text = renderScalar(ctx, node);
    if (text !== null) replacement = { from: node.range![0], to: node.range![1], text };
  } else if (isCollection(node) && node.flow) {
    const text = renderFlow(ctx, node);
    if (text !== null) replacement = { from: node.range![0], to: node.range![1], text };
  } else if (isCollection(node)) {
    const r = renderBlock(ctx, node);
    if (r) replacement = { from: node.range![0], to: r.end, text: r.text };
  }
  if (!replacement || replacement.from < span.start || replacement.to > span.end) return null;
  const { text } = ctx;
  return {
    lead: span.lead,
    body: text.slice(span.start, replacement.from) + replacement.text + text.slice(replacement.to, span.end),
  };
}

/** A changed one-line scalar printed alone (its comment and anchor stay in the original text), or null. */
function renderScalar(ctx: Ctx, node: Scalar): string | null {
  const s = ctx.snaps.get(node);
  if (!s || !node.range || node.range[1] <= node.range[0] || node.tag) return null;
  // Only the value (and with it its style) may differ; comments and props must be as in the text.
  if (changedFields(ctx, node).some((f) => !SCALAR_VALUE_FIELDS.has(f))) return null;
  const wasType = s.fields[FIELDS.indexOf('type')];
  if (wasType === Scalar.BLOCK_LITERAL || wasType === Scalar.BLOCK_FOLDED) return null;
  const alone = new Scalar(node.value);
  alone.type = node.type;
  alone.format = node.format;
  if (node.minFractionDigits !== undefined) alone.minFractionDigits = node.minFractionDigits;
  const out = print(alone, ctx.style);
  return out === null || out.includes('\n') || /^[|>]/.test(out) ? null : out;
}

/** A changed one-line flow collection (`[a, b]`) printed alone, or null. */
function renderFlow(ctx: Ctx, node: YAMLMap | YAMLSeq): string | null {
  if (!node.range || !ownFieldsUnchanged(ctx, node) || node.anchor || node.tag) return null;
  const copy = node.clone();
  copy.comment = copy.commentBefore = undefined;
  copy.spaceBefore = false;
  const out = print(copy, ctx.style);
  return out === null || out.includes('\n') ? null : out;
}

/** Item text printed by the yaml library at column `pad`; an original item keeps its lead comments. */
function generateItem(ctx: Ctx, c: YAMLMap | YAMLSeq, item: unknown, span: Span | null, pad: string): { lead: string; body: string } | null {
  const head = isPair(item) ? item.key : item;
  const keepLead = span !== null && isNode(head) && ctx.snaps.has(head)
    && !changedFields(ctx, head).some((f) => f === 'commentBefore' || f === 'spaceBefore');
  const copy = isPair(item) ? item.clone() : isNode(item) ? item.clone() : item;
  const copyHead = isPair(copy) ? copy.key : copy;
  if (keepLead && isNode(copyHead)) {
    copyHead.commentBefore = undefined;
    copyHead.spaceBefore = false;
  }
  const wrapper = isMap(c) ? new YAMLMap() : new YAMLSeq();
  (wrapper.items as unknown[]).push(copy);
  const printed = print(wrapper, ctx.style);
  if (printed === null) return null;
  const lines = printed.split('\n');
  let first = 0; // lines before `first` are the comments the library printed above the item
  if (!keepLead) while (first < lines.length - 1 && /^[ \t]*(?:#.*)?$/.test(lines[first]!)) first++;
  const indented = (l: string): string => (l === '' ? l : pad + l);
  const lead = lines.slice(0, first).map((l) => indented(l) + ctx.eol).join('');
  const body = [lines[first]!, ...lines.slice(first + 1).map(indented)].join(ctx.eol) + ctx.eol;
  return { lead: keepLead ? span!.lead : lead, body };
}

/** `node` printed as a document of its own without the trailing newline, or null if it cannot be. */
function print(node: unknown, style: ToStringOptions): string | null {
  try {
    const d = new Document(null, { version: '1.2' });
    d.contents = node as Node;
    return d.toString(style).replace(/\n$/, '');
  } catch {
    return null; // e.g. an alias whose anchor is outside `node`
  }
}

/** Indentation step and whether lists under a key are indented, as the user's text does it. */
function detectStyle(text: string, doc: Document.Parsed): ToStringOptions {
  let indent: number | undefined;
  let indentSeq: boolean | undefined;
  const column = (at: number): number => at - text.lastIndexOf('\n', at - 1) - 1;
  const walk = (node: unknown): void => {
    if (!isCollection(node)) return;
    for (const item of node.items as unknown[]) {
      if (isPair(item)) {
        const k = item.key, v = item.value;
        if (isNode(k) && k.range && isCollection(v) && !v.flow && v.range) {
          if (isMap(v) && indent === undefined && column(v.range[0]) > column(k.range[0])) indent = column(v.range[0]) - column(k.range[0]);
          if (isSeq(v) && indentSeq === undefined) indentSeq = column(v.range[0]) > column(k.range[0]);
        }
        walk(v);
      } else walk(item);
    }
  };
  walk(doc.contents);
  return { indent: indent ?? 2, indentSeq: indentSeq ?? true, lineWidth: 0, flowCollectionPadding: false };
}
