import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, parseJournal, sameEntry, writeAtomic } from '../../../app/service/journal.js';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'sy-journal-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

describe('Journal', () => {
  it('creates a missing stateDir with mode 0700 and starts empty', async () => {
    const stateDir = join(dir, 'state', 'nested');
    const j = await Journal.open(stateDir);
    expect(j.entries()).toEqual([]);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
  });

  it('round-trips entries, owner pid and order through the file', async () => {
    const j = await Journal.open(dir);
    await j.add({ kind: 'link', name: 'sy0' });
    await j.add({ kind: 'rule', family: 4, spec: ['priority', '100', 'lookup', '100'] });
    await j.add({ kind: 'rule', family: 4, spec: ['priority', '100', 'lookup', '100'] }); // duplicate: ignored
    const again = await Journal.open(dir);
    expect(again.entries()).toEqual([{ kind: 'link', name: 'sy0' }, { kind: 'rule', family: 4, spec: ['priority', '100', 'lookup', '100'] }]);
    expect(again.previousOwner?.pid).toBe(process.pid);
    expect(again.ownedByOtherLiveProcess()).toBe(false);
    const file = JSON.parse(await readFile(join(dir, 'journal.json'), 'utf8'));
    expect(file.version).toBe(1);
    expect(file.owner.pid).toBe(process.pid);
  });

  it('removes entries by structure, not by field order', async () => {
    const j = await Journal.open(dir);
    await j.add({ kind: 'route', family: 6, spec: ['::/0', 'dev', 'sy0', 'table', '7'] });
    await j.remove({ spec: ['::/0', 'dev', 'sy0', 'table', '7'], family: 6, kind: 'route' });
    expect(j.entries()).toEqual([]);
  });

  it('clear() removes the file and leaves no temp files behind', async () => {
    const j = await Journal.open(dir);
    await j.add({ kind: 'link', name: 'a' });
    await j.replace([{ kind: 'link', name: 'b' }]);
    expect((await Journal.open(dir)).entries()).toEqual([{ kind: 'link', name: 'b' }]);
    await j.clear();
    expect(await readdir(dir)).toEqual([]);
  });

  it('serializes concurrent writes so the last one wins and the file stays valid', async () => {
    const j = await Journal.open(dir);
    await Promise.all(Array.from({ length: 20 }, (_, i) => j.add({ kind: 'link', name: `t${i}` })));
    const again = await Journal.open(dir);
    expect(again.entries().map((e) => e.name)).toEqual(Array.from({ length: 20 }, (_, i) => `t${i}`));
  });

  it.each([
    ['not JSON', '{"version":1,"entries":[{"kind":"li'],
    ['wrong version', '{"version":9,"entries":[]}'],
    ['entries without kind', '{"version":1,"entries":[{"name":"x"}]}'],
  ])('moves a corrupt journal (%s) aside instead of discarding it', async (_label, text) => {
    await writeFile(join(dir, 'journal.json'), text);
    const j = await Journal.open(dir);
    expect(j.entries()).toEqual([]);
    expect(j.corruptFile).toMatch(/journal\.json\.corrupt-/);
    expect(j.corruptReason).toBeTruthy();
    expect(await readFile(j.corruptFile!, 'utf8')).toBe(text);
    expect(await readdir(dir)).not.toContain('journal.json');
  });

  it('treats a dead owner as not live (a crashed run)', async () => {
    await writeFile(join(dir, 'journal.json'), JSON.stringify({ version: 1, owner: { pid: 2 ** 22 + 12345, startTime: '1' }, entries: [{ kind: 'link', name: 'x' }] }));
    const j = await Journal.open(dir);
    expect(j.ownedByOtherLiveProcess()).toBe(false);
    expect(j.entries()).toEqual([{ kind: 'link', name: 'x' }]);
  });

  it('sees a live other owner, and a reused pid (different start time) as not live', async () => {
    await writeFile(join(dir, 'journal.json'), JSON.stringify({ version: 1, owner: { pid: 1, startTime: null }, entries: [] }));
    expect((await Journal.open(dir)).ownedByOtherLiveProcess()).toBe(true);
    await writeFile(join(dir, 'journal.json'), JSON.stringify({ version: 1, owner: { pid: 1, startTime: 'not-the-start-time' }, entries: [] }));
    expect((await Journal.open(dir)).ownedByOtherLiveProcess()).toBe(false);
  });
});

describe('writeAtomic', () => {
  it('replaces the file in one step: a reader sees old or new content, never a prefix', async () => {
    const path = join(dir, 'f.json');
    const big = (c: string) => JSON.stringify({ fill: c.repeat(200_000) });
    await writeAtomic(path, big('a'));
    const seen = new Set<string>();
    let writing = true;
    const reader = (async () => {
      while (writing) {
        const t = await readFile(path, 'utf8');
        seen.add(t === big('a') ? 'old' : t === big('b') ? 'new' : 'torn');
      }
    })();
    for (let i = 0; i < 5; i++) await writeAtomic(path, big(i % 2 ? 'a' : 'b'));
    writing = false;
    await reader;
    expect(seen.has('torn')).toBe(false);
    expect(await readdir(dir)).toEqual(['f.json']);
  });
});

describe('helpers', () => {
  it('parseJournal reports why text is not a journal', () => {
    expect(parseJournal('[]')).toMatch(/version/);
    expect(parseJournal('nope')).toMatch(/not JSON/);
  });
  it('sameEntry ignores key order', () => {
    expect(sameEntry({ kind: 'a', x: 1, y: [1, 2] }, { y: [1, 2], x: 1, kind: 'a' })).toBe(true);
    expect(sameEntry({ kind: 'a', y: [1, 2] }, { kind: 'a', y: [2, 1] })).toBe(false);
  });
});
