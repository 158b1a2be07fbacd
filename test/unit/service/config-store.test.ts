import { afterEach, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import {
  ConfigStore, editYamlText, FileChangedError, FileWriteError, mapDelete, mapSet, removeStaleTempFiles,
  seqInsert, seqMove, seqRemove, seqReplace, writeFileAtomic,
} from '../../../app/service/config-store.js';
import { ConfigError, DEFAULT_CONFIG_TEXT, parseConfig } from '../../../app/service/config.js';

let dir: string;
beforeEach(async () => { dir = await realpath(await mkdtemp(join(tmpdir(), 'sy-config-store-'))); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

const TEMP_NAME = /\.tmp-\d+-[0-9a-f]+$/;
const tempFiles = async (d: string): Promise<string[]> => (await readdir(d)).filter((n) => TEMP_NAME.test(n));
const noCheck = (): void => undefined;

/** A pid that no process has: a child that already exited (and was reaped). */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

// A rule list the way a user writes one: comments above items, aligned inline comments, a blank line.
const RULES = `# my rules
rules:
  # the list
  - name: a      # inline a
    action: direct
  # about b
  - name: b
    action: proxy   # via socks

  # about c
  - name: c
    action: block
# upstreams below
upstreams:
  socks: {url: 'socks5://x'}
`;

describe('editYamlText: untouched text stays byte for byte', () => {
  it('changes only the edited scalar of the default config (aligned comments, hex, blank lines kept)', () => {
    const out = editYamlText(DEFAULT_CONFIG_TEXT, (d) => { mapSet(d, ['tun', 'mtu'], 9000); mapSet(d, ['route', 'fwmark'], 0x1234); });
    expect(out).toBe(DEFAULT_CONFIG_TEXT.replace('mtu: 1500 ', 'mtu: 9000 ').replace('fwmark: 0x5359', 'fwmark: 0x1234'));
    expect(parseConfig(out).tun.mtu).toBe(9000);
  });

  it('returns the text unchanged when the edit changes nothing', () => {
    expect(editYamlText(RULES, (d) => mapSet(d, ['rules', 1, 'action'], 'proxy'))).toBe(RULES);
  });

  it.each([
    ['seqReplace updates in place: comments above the item and on the fields it keeps stay, also on a changed value',
      (d: Parameters<typeof seqInsert>[0]) => seqReplace(d, ['rules'], 1, { name: 'b', action: 'direct' }),
      RULES.replace('action: proxy   # via socks', 'action: direct   # via socks')],
    ['seqReplace adds new fields last and drops missing ones',
      (d: Parameters<typeof seqInsert>[0]) => seqReplace(d, ['rules'], 2, { name: 'c', via: 'socks' }),
      RULES.replace('  - name: c\n    action: block\n', '  - name: c\n    via: socks\n')],
    ['seqInsert in the middle',
      (d: Parameters<typeof seqInsert>[0]) => seqInsert(d, ['rules'], 2, { name: 'z', action: 'proxy' }),
      RULES.replace('via socks\n', 'via socks\n  - name: z\n    action: proxy\n')],
    ['seqInsert first goes under the list comment',
      (d: Parameters<typeof seqInsert>[0]) => seqInsert(d, ['rules'], 0, { name: 'z', action: 'proxy' }),
      RULES.replace('  # the list\n', '  # the list\n  - name: z\n    action: proxy\n')],
    ['seqInsert at the end',
      (d: Parameters<typeof seqInsert>[0]) => seqInsert(d, ['rules'], 'end', { name: 'z', action: 'proxy' }),
      RULES.replace('action: block\n', 'action: block\n  - name: z\n    action: proxy\n')],
    ['seqRemove takes the comment lines above the item with it',
      (d: Parameters<typeof seqInsert>[0]) => seqRemove(d, ['rules'], 1),
      RULES.replace('  # about b\n  - name: b\n    action: proxy   # via socks\n', '')],
    ['seqRemove of the first item keeps the list comment',
      (d: Parameters<typeof seqInsert>[0]) => seqRemove(d, ['rules'], 0),
      RULES.replace('  - name: a      # inline a\n    action: direct\n', '')],
    ['seqMove carries the item comments along',
      (d: Parameters<typeof seqInsert>[0]) => seqMove(d, ['rules'], 0, 2),
      RULES.replace('  - name: a      # inline a\n    action: direct\n', '').replace('action: block\n', 'action: block\n  - name: a      # inline a\n    action: direct\n')],
    ['mapSet adds an upstream after the others',
      (d: Parameters<typeof seqInsert>[0]) => mapSet(d, ['upstreams', 'http'], { url: 'http://y' }),
      `${RULES}  http:\n    url: http://y\n`],
    ['mapSet inside a flow mapping keeps its quoting',
      (d: Parameters<typeof seqInsert>[0]) => mapSet(d, ['upstreams', 'socks', 'url'], 'socks5://z'),
      RULES.replace("'socks5://x'", "'socks5://z'")],
    ['mapDelete removes the section and nothing else',
      (d: Parameters<typeof seqInsert>[0]) => mapDelete(d, ['upstreams']),
      RULES.replace("# upstreams below\nupstreams:\n  socks: {url: 'socks5://x'}\n", '')],
    ['mapSet creates a missing section at the end',
      (d: Parameters<typeof seqInsert>[0]) => mapSet(d, ['dns', 'servers'], ['1.1.1.1']),
      `${RULES}dns:\n  servers:\n    - 1.1.1.1\n`],
  ])('%s', (_name, edit, expected) => {
    expect(editYamlText(RULES, edit)).toBe(expected);
  });

  it.each([
    ['an empty file', '', 'rules:\n  - name: x\n'],
    ['a comments-only file', '# only comments\n# here\n', '# only comments\n# here\n\nrules:\n  - name: x\n'],
    ['`rules:` with no value', 'rules:\nother: 1\n', 'rules:\n  - name: x\nother: 1\n'],
    ['`rules: ~`', 'rules: ~\n', 'rules:\n  - name: x\n'],
    ['`rules: []`', 'a: 1\nrules: []\n', 'a: 1\nrules:\n  - name: x\n'],
  ])('seqInsert creates the list in %s', (_name, text, expected) => {
    expect(editYamlText(text, (d) => seqInsert(d, ['rules'], 'end', { name: 'x' }))).toBe(expected);
  });

  it('follows the file: CRLF line ends and unindented lists', () => {
    const crlf = 'a: 1\r\nlist:\r\n  # c\r\n  - x   # xx\r\n  - y\r\n';
    expect(editYamlText(crlf, (d) => seqInsert(d, ['list'], 1, { k: 'v' })))
      .toBe('a: 1\r\nlist:\r\n  # c\r\n  - x   # xx\r\n  - k: v\r\n  - y\r\n');
    const flat = 'list:\n- a\n- b   # bb\n';
    expect(editYamlText(flat, (d) => seqInsert(d, ['list'], 'end', 'c'))).toBe('list:\n- a\n- b   # bb\n- c\n');
  });

  it('agrees with the plain Document edit on the data for random edit sequences', () => {
    let seed = 7;
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    for (let round = 0; round < 40; round++) {
      let text = RULES;
      const model = parse(RULES) as { rules: unknown[]; upstreams: Record<string, unknown> };
      for (let step = 0; step < 6; step++) {
        const len = model.rules.length;
        const op = len === 0 ? 0 : rand(5);
        const value = { name: `r${round}-${step}`, action: ['direct', 'proxy', 'block'][rand(3)] };
        const i = rand(len + 1), j = len ? rand(len) : 0, k = len ? rand(len) : 0;
        text = editYamlText(text, (d) => {
          if (op === 0) { seqInsert(d, ['rules'], i, value); model.rules.splice(i, 0, value); }
          else if (op === 1) { seqRemove(d, ['rules'], j); model.rules.splice(j, 1); }
          else if (op === 2) { seqMove(d, ['rules'], j, k); model.rules.splice(k, 0, model.rules.splice(j, 1)[0]); }
          else if (op === 3) { seqReplace(d, ['rules'], j, value); model.rules[j] = value; }
          else { mapSet(d, ['upstreams', `u${step}`], { url: `http://${step}` }); model.upstreams[`u${step}`] = { url: `http://${step}` }; }
        });
        expect(parse(text)).toEqual(model);
      }
      expect(text).toContain('# upstreams below');
    }
  });

  it('refuses a file that is not valid YAML, naming the line', () => {
    expect(() => editYamlText('a: [1, 2\nb: 3\n', noCheck)).toThrow(ConfigError);
    expect(() => editYamlText('a: 1\na: 2\n', noCheck)).toThrow(/line 2/);
  });

  it('names the key path when a value has the wrong kind', () => {
    expect(() => editYamlText('rules: yes\n', (d) => seqInsert(d, ['rules'], 0, 'x'))).toThrow('rules is "yes", not a list');
    expect(() => editYamlText('rules: [a]\n', (d) => seqRemove(d, ['rules'], 3))).toThrow('rules: index 3 is out of range 0..0');
  });
});

describe('writeFileAtomic', () => {
  it('creates a new file with mode 0600 and replaces it without leaving temp files', async () => {
    const path = join(dir, 'c.yaml');
    await writeFileAtomic(path, 'one\n');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await writeFileAtomic(path, new TextEncoder().encode('two\n'));
    expect(await readFile(path, 'utf8')).toBe('two\n');
    expect(await readdir(dir)).toEqual(['c.yaml']);
  });

  it('keeps the mode, owner and group of the replaced file', async (ctx: TestContext) => {
    if (process.getuid?.() !== 0) ctx.skip('needs root to chown to another user');
    const path = join(dir, 'c.yaml');
    await writeFile(path, 'old\n');
    await chown(path, 1234, 4321);
    await chmod(path, 0o640);
    await writeFileAtomic(path, 'new\n', { backup: true });
    const st = await stat(path);
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o640, 1234, 4321]);
    const bak = await stat(`${path}.bak`);
    expect([bak.mode & 0o7777, bak.uid, bak.gid]).toEqual([0o640, 1234, 4321]);
    expect(await readFile(`${path}.bak`, 'utf8')).toBe('old\n');
  });

  it('writes through a symbolic link chain to its target and keeps the links', async () => {
    await mkdir(join(dir, 'etc'));
    const target = join(dir, 'etc', 'real.yaml');
    await writeFile(target, 'old\n');
    await symlink('etc/real.yaml', join(dir, 'hop.yaml'));
    await symlink('hop.yaml', join(dir, 'c.yaml'));
    await writeFileAtomic(join(dir, 'c.yaml'), 'new\n', { backup: true });
    expect(await readFile(target, 'utf8')).toBe('new\n');
    expect(await readFile(`${target}.bak`, 'utf8')).toBe('old\n');
    expect((await lstat(join(dir, 'c.yaml'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(dir, 'c.yaml'))).toBe('hop.yaml');
    expect((await readdir(dir)).sort()).toEqual(['c.yaml', 'etc', 'hop.yaml']);
    expect((await readdir(join(dir, 'etc'))).sort()).toEqual(['real.yaml', 'real.yaml.bak']);
  });

  it('creates the target of a dangling link', async () => {
    await symlink('real.yaml', join(dir, 'c.yaml'));
    await writeFileAtomic(join(dir, 'c.yaml'), 'x\n');
    expect(await readFile(join(dir, 'real.yaml'), 'utf8')).toBe('x\n');
  });

  it('on failure removes the temp file and names the path, the errno and the step', async () => {
    const path = join(dir, 'c.yaml');
    await mkdir(path); // rename(2) of a file over a directory fails with EISDIR
    const err = await writeFileAtomic(path, 'x\n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileWriteError);
    expect(err).toMatchObject({ code: 'EISDIR', step: 'rename', path, replaced: false });
    expect((err as Error).message).toContain(`cannot write ${path}: EISDIR`);
    expect((err as Error).message).toContain('the file is unchanged');
    expect(await tempFiles(dir)).toEqual([]);
  });

  it('names the link target too when writing through a link fails', async () => {
    await mkdir(join(dir, 'real'));
    await symlink('real', join(dir, 'c.yaml'));
    const err = await writeFileAtomic(join(dir, 'c.yaml'), 'x\n').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(new RegExp(`^cannot write ${dir}/c\\.yaml \\(-> ${dir}/real\\): EISDIR`));
    expect(await tempFiles(dir)).toEqual([]);
  });

  it('refuses with FileChangedError when the file is not the expected version', async () => {
    const path = join(dir, 'c.yaml');
    await writeFile(path, 'x\n');
    await expect(writeFileAtomic(path, 'y\n', { ifVersion: null })).rejects.toBeInstanceOf(FileChangedError);
    expect(await readFile(path, 'utf8')).toBe('x\n');
    expect(await tempFiles(dir)).toEqual([]);
  });
});

describe('removeStaleTempFiles', () => {
  it('deletes only its own temp names whose writer pid is dead', async () => {
    const path = join(dir, 'c.yaml');
    await writeFile(path, 'x: 1\n');
    const dead = deadPid();
    const names = [
      `.c.yaml.tmp-${dead}-0a1b2c`, // stale: removed
      `.c.yaml.bak.tmp-${dead}-0a1b2c`, // stale backup temp: removed
      `.c.yaml.tmp-${process.pid}-0a1b2c`, // a live writer (us): kept
      `.c.yaml.tmp-1-0a1b2c`, // pid 1 is alive: kept
      `.other.yaml.tmp-${dead}-0a1b2c`, // another file's: kept
      `c.yaml.tmp-${dead}-0a1b2c`, // not our pattern: kept
    ];
    for (const n of names) await writeFile(join(dir, n), 'partial');
    const store = await ConfigStore.open(path);
    expect(store.removedTempFiles.sort()).toEqual([join(dir, names[1]!), join(dir, names[0]!)]);
    expect((await readdir(dir)).sort()).toEqual(['c.yaml', ...names.slice(2)].sort());
    expect(await removeStaleTempFiles(path)).toEqual([]);
  });
});

describe('ConfigStore.update', () => {
  const addRule = (name: string) => (d: Parameters<typeof seqInsert>[0]): void => seqInsert(d, ['rules'], 'end', { name });

  it('keeps comments and other sections, returns the new text and keeps the previous one as .bak', async () => {
    const path = join(dir, 'c.yaml');
    await writeFile(path, RULES);
    const store = await ConfigStore.open(path);
    expect(store.text).toBe(RULES);
    const text = await store.update(addRule('z'), noCheck);
    expect(text).toBe(RULES.replace('action: block\n', 'action: block\n  - name: z\n'));
    expect(await readFile(path, 'utf8')).toBe(text);
    expect(store.text).toBe(text);
    expect(await readFile(`${path}.bak`, 'utf8')).toBe(RULES);
    expect(await tempFiles(dir)).toEqual([]);
  });

  it('writes nothing when validate throws: the file stays byte-identical (same inode, same mtime)', async () => {
    const path = join(dir, 'c.yaml');
    await writeFile(path, DEFAULT_CONFIG_TEXT);
    const before = await stat(path, { bigint: true });
    const store = await ConfigStore.open(path);
    const err = await store.update((d) => mapSet(d, ['tun', 'mtu'], 99), (t) => { parseConfig(t, path); }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues).toEqual(['tun.mtu: 99 is out of range 1280..65521']);
    expect(await readFile(path, 'utf8')).toBe(DEFAULT_CONFIG_TEXT);
    const after = await stat(path, { bigint: true });
    expect([after.ino, after.mtimeNs]).toEqual([before.ino, before.mtimeNs]);
    expect(await readdir(dir)).toEqual(['c.yaml']);
  });

  it('writes nothing when the edit throws or the file on disk is not YAML', async () => {
    const path = join(dir, 'c.yaml');
    await writeFile(path, RULES);
    const store = await ConfigStore.open(path);
    await expect(store.update(() => { throw new Error('no such rule'); }, noCheck)).rejects.toThrow('no such rule');
    await writeFile(path, 'rules: [\n');
    await expect(store.update(addRule('z'), noCheck)).rejects.toThrow(ConfigError);
    expect(await readFile(path, 'utf8')).toBe('rules: [\n');
    expect((await readdir(dir)).sort()).toEqual(['c.yaml']);
  });

  it('serializes concurrent updates: none is lost, they apply in call order', async () => {
    const path = join(dir, 'c.yaml');
    await writeFile(path, RULES);
    const store = await ConfigStore.open(path);
    const slowCheck = async (): Promise<void> => { await new Promise((r) => setTimeout(r, Math.random() * 3)); };
    await Promise.all(Array.from({ length: 25 }, (_, i) => store.update(addRule(`n${i}`), slowCheck)));
    const rules = (parse(await readFile(path, 'utf8')) as { rules: { name: string }[] }).rules.map((r) => r.name);
    expect(rules).toEqual(['a', 'b', 'c', ...Array.from({ length: 25 }, (_, i) => `n${i}`)]);
    expect(await tempFiles(dir)).toEqual([]);
  });

  it('a failed update does not stop the queue', async () => {
    const path = join(dir, 'c.yaml');
    await writeFile(path, RULES);
    const store = await ConfigStore.open(path);
    const results = await Promise.allSettled([
      store.update(addRule('x'), noCheck),
      store.update(addRule('bad'), () => { throw new Error('invalid'); }),
      store.update(addRule('y'), noCheck),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await readFile(path, 'utf8')).toContain('  - name: x\n  - name: y\n');
  });

  it('reads hand edits made between updates', async () => {
    const path = join(dir, 'c.yaml');
    await writeFile(path, RULES);
    const store = await ConfigStore.open(path);
    await writeFile(path, `${RULES}log:\n  level: debug   # by hand\n`);
    const text = await store.update(addRule('z'), noCheck);
    expect(text).toContain('level: debug   # by hand');
    expect(text).toContain('- name: z');
  });

  it('edits again when the file is changed by hand during an update (no lost hand edit)', async () => {
    const path = join(dir, 'c.yaml');
    await writeFile(path, RULES);
    const store = await ConfigStore.open(path);
    let calls = 0;
    const text = await store.update((d) => {
      if (calls++ === 0) writeFileSync(path, `${RULES}log:\n  level: debug\n`); // lands between read and rename
      seqRemove(d, ['rules'], 0);
    }, noCheck);
    expect(calls).toBe(2);
    expect(text).toContain('level: debug');
    expect(text).not.toContain('name: a ');
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('keeps mode and ownership of a 0600 root-style file and updates through a symlink', async (ctx: TestContext) => {
    if (process.getuid?.() !== 0) ctx.skip('needs root to chown to another user');
    await mkdir(join(dir, 'etc'));
    const real = join(dir, 'etc', 'switchyard.yaml');
    await writeFile(real, RULES, { mode: 0o600 });
    await chown(real, 4242, 4343);
    await symlink(real, join(dir, 'config.yaml'));
    const store = await ConfigStore.open(join(dir, 'config.yaml'));
    await store.update(addRule('z'), noCheck);
    const st = await stat(real);
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o600, 4242, 4343]);
    expect(await readFile(real, 'utf8')).toContain('- name: z');
    expect(await readlink(join(dir, 'config.yaml'))).toBe(real);
    expect(await tempFiles(join(dir, 'etc'))).toEqual([]);
  });
});

// The two scenarios below run the compiled module in child processes: a mount namespace and SIGKILL
// need a process of their own. `npm test` builds dist/ first.
const DIST = fileURLToPath(new URL('../../../dist/app/service/config-store.js', import.meta.url));
const SOURCE = fileURLToPath(new URL('../../../app/service/config-store.ts', import.meta.url));

function skipWithoutDist(ctx: TestContext): void {
  if (!existsSync(DIST)) ctx.skip(`${DIST} is missing: run npm run build`);
  if (statSync(DIST).mtimeMs < statSync(SOURCE).mtimeMs) ctx.skip(`${DIST} is older than its source: run npm run build`);
}

// Runs in a private mount namespace with DIR a 64 KiB tmpfs, so the host sees no mount and no full disk.
const FULL_DISK_SCRIPT = `
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
const [dist, dir] = process.argv.slice(2);
const { ConfigStore, seqInsert } = await import(dist);
const path = dir + '/config.yaml';
await writeFile(path, '# rules kept by hand\\nrules:\\n  - name: first   # keep me\\n    action: direct\\n', { mode: 0o600 });
const store = await ConfigStore.open(path);
await store.update((d) => seqInsert(d, ['rules'], 'end', { name: 'second' }), () => {});
const before = await readFile(path, 'utf8');
const bakBefore = await readFile(path + '.bak', 'utf8');
const fillers = [];
for (let i = 0; ; i++) {
  const f = dir + '/fill-' + i;
  try { await writeFile(f, Buffer.alloc(4096, 1)); fillers.push(f); }
  catch (e) { if (e.code !== 'ENOSPC') throw e; await rm(f, { force: true }); break; }
}
await rm(fillers.pop()); // one page left: less than the update needs
const many = (d) => { for (let i = 0; i < 40; i++) seqInsert(d, ['rules'], 'end', { name: 'rule-' + i, note: 'x'.repeat(100) }); };
let error = null;
try { await store.update(many, () => {}); } catch (e) { error = { name: e.name, code: e.code, step: e.step, message: e.message }; }
const result = {
  fillers: fillers.length, error, before, after: await readFile(path, 'utf8'),
  bakUnchanged: (await readFile(path + '.bak', 'utf8')) === bakBefore,
  entries: (await readdir(dir)).filter((n) => !n.startsWith('fill-')).sort(),
};
for (const f of fillers) await rm(f);
result.retried = (await store.update(many, () => {})).length;
result.entriesAfterRetry = (await readdir(dir)).sort();
console.log(JSON.stringify(result));
`;

describe('full disk', () => {
  it('ENOSPC on a real full tmpfs: a clear error, the file and its .bak byte-identical, no temp file', async (ctx: TestContext) => {
    skipWithoutDist(ctx);
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    const probe = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs "$0"', mnt], { encoding: 'utf8' });
    if (probe.status !== 0) ctx.skip(`cannot mount a tmpfs in a private mount namespace (unshare -m): ${(probe.stderr || String(probe.error)).trim()}`);
    const script = join(dir, 'full-disk.mjs');
    await writeFile(script, FULL_DISK_SCRIPT);
    const run = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      'mount -t tmpfs -o size=64k,mode=0700 tmpfs "$0" && exec "$1" "$2" "$3" "$0"', mnt, process.execPath, script, pathToFileURL(DIST).href],
    { encoding: 'utf8', timeout: 10_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.fillers).toBeGreaterThan(5); // the disk really was filled
    expect(r.error).toMatchObject({ name: 'FileWriteError', code: 'ENOSPC', step: 'write' });
    expect(r.error.message).toBe(`cannot write ${mnt}/config.yaml: ENOSPC (no space left on device) while writing the temporary file; the file is unchanged`);
    expect(r.after).toBe(r.before);
    expect(parse(r.after)).toEqual({ rules: [{ name: 'first', action: 'direct' }, { name: 'second' }] });
    expect(r.bakUnchanged).toBe(true);
    expect(r.entries).toEqual(['config.yaml', 'config.yaml.bak']);
    // With space again the same update goes through and still leaves nothing behind.
    expect(r.retried).toBeGreaterThan(r.before.length + 4096);
    expect(r.entriesAfterRetry).toEqual(['config.yaml', 'config.yaml.bak']);
  });
});

// Updates in a loop until killed; prints each update's counter once it is durable.
const CRASH_SCRIPT = `
const [dist, path] = process.argv.slice(2);
const { ConfigStore, mapSet, seqInsert, seqRemove } = await import(dist);
const store = await ConfigStore.open(path);
process.stdout.write('removed ' + store.removedTempFiles.length + '\\n');
for (;;) {
  let n = 0;
  await store.update((doc) => {
    n = Number(doc.get('n')) + 1;
    mapSet(doc, ['n'], n);
    seqInsert(doc, ['recent'], 'end', { n, pad: 'x'.repeat(64) });
    if (doc.getIn(['recent']).items.length > 8) seqRemove(doc, ['recent'], 0);
  }, () => {});
  process.stdout.write(n + '\\n');
}
`;

/** Kills a looping writer of `path` `rounds` times; checks the file after each kill. */
async function killLoop(path: string, rounds: number): Promise<void> {
  const dir = join(path, '..');
  const script = join(dir, 'crash.mjs');
  await writeFile(script, CRASH_SCRIPT);
  await writeFile(path, '# crash test: keep this comment\nn: 0\nrecent: []\n');
  let durable = 0, leftovers = 0, removedByOpen = 0;
  for (let round = 0; round < rounds; round++) {
    const child = spawn(process.execPath, [script, pathToFileURL(DIST).href, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
    const closed = new Promise<void>((r) => child.on('close', () => r()));
    // Kill at a random moment once the loop runs: a few updates in, mid-write, mid-rename.
    await new Promise<void>((r) => { const check = (): void => { if (/\n\d+\n/.test(out) || child.exitCode !== null) r(); else setTimeout(check, 1); }; check(); });
    await new Promise((r) => setTimeout(r, Math.random() * 15));
    child.kill('SIGKILL');
    await closed;
    expect(err).toBe('');
    const lines = out.trim().split('\n');
    removedByOpen += Number(lines[0]!.split(' ')[1]);
    const printed = lines.slice(1).map(Number);
    expect(printed[0]).toBe(durable + 1);
    durable = printed[printed.length - 1]!;

    const text = await readFile(path, 'utf8');
    const data = parse(text) as { n: number; recent: { n: number }[] };
    expect([durable, durable + 1]).toContain(data.n); // the last durable update, or the one killed after its rename
    const kept = Math.min(data.n, 8);
    expect(data.recent.map((r) => r.n)).toEqual(Array.from({ length: kept }, (_, i) => data.n - kept + 1 + i));
    expect(text.startsWith('# crash test: keep this comment\n')).toBe(true);
    expect(parse(await readFile(`${path}.bak`, 'utf8'))).toMatchObject({ n: expect.any(Number) });
    durable = data.n;
    const temps = await tempFiles(dir);
    expect(temps.length).toBeLessThanOrEqual(2); // the file's and the .bak's temp of the one killed update
    leftovers += temps.length;
  }
  const store = await ConfigStore.open(path);
  removedByOpen += store.removedTempFiles.length;
  expect(removedByOpen).toBe(leftovers);
  expect(await tempFiles(dir)).toEqual([]);
}

describe('kill -9 during updates', () => {
  it('30 kills: the file is the last durable version or the next, never torn; open() removes stale temp files', async (ctx: TestContext) => {
    skipWithoutDist(ctx);
    // Three writers of three files side by side: node's start-up, not the updates, is the slow part.
    const lanes = ['a', 'b', 'c'].map((l) => join(dir, l));
    for (const l of lanes) await mkdir(l);
    await Promise.all(lanes.map((l) => killLoop(join(l, 'c.yaml'), 10)));
  }, 30_000);
});
