// App icons on Linux (native/process/icons-linux.ts): .desktop entries parsed, Exec matched to the
// executable, the Icon found in a hicolor-like tree or pixmaps; real files in a temp dir.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinuxAppIcons, execMatches, execProgram, parseDesktopEntry } from '../../../native/process/icons-linux.js';

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

describe('desktop entries', () => {
  it('reads Exec and Icon of the [Desktop Entry] group only', () => {
    expect(parseDesktopEntry('[Desktop Entry]\nName=Chromium\nExec=/usr/bin/chromium %U\nIcon=chromium\n[Desktop Action new]\nExec=other\nIcon=x\n'))
      .toEqual({ exec: '/usr/bin/chromium %U', icon: 'chromium' });
    expect(parseDesktopEntry('[Desktop Entry]\nName=No icon\nExec=foo\n')).toBeNull();
    expect(parseDesktopEntry('garbage')).toBeNull();
  });

  it.each([
    ['/usr/bin/chromium %U', '/usr/bin/chromium'],
    ['"/opt/My App/app" --flag', '/opt/My App/app'],
    ['env GDK_BACKEND=x11 FOO=1 firefox %u', 'firefox'],
    ['', ''],
  ])('the program of Exec=%s is %s', (exec, program) => { expect(execProgram(exec)).toBe(program); });

  it('matches by full path, or by file name when the entry gives a bare name', () => {
    expect(execMatches('/usr/bin/chromium', '/usr/bin/chromium', 'chromium')).toBe(true);
    expect(execMatches('/usr/bin/chromium', '/usr/lib/chromium/chromium', 'chromium')).toBe(false);
    expect(execMatches('firefox', '/usr/lib/firefox/firefox', 'firefox')).toBe(true);
    expect(execMatches('', '/usr/bin/x', 'x')).toBe(false);
  });
});

describe('LinuxAppIcons', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-icons-'));
    await mkdir(join(dir, 'apps'), { recursive: true });
    await mkdir(join(dir, 'hicolor', '48x48', 'apps'), { recursive: true });
    await mkdir(join(dir, 'hicolor', 'scalable', 'apps'), { recursive: true });
    await mkdir(join(dir, 'pixmaps'), { recursive: true });
    await writeFile(join(dir, 'apps', 'browser.desktop'), '[Desktop Entry]\nExec=/usr/bin/browser %U\nIcon=web-browser\n');
    await writeFile(join(dir, 'apps', 'editor.desktop'), '[Desktop Entry]\nExec=editor %F\nIcon=accessories-editor\n');
    await writeFile(join(dir, 'hicolor', '48x48', 'apps', 'web-browser.png'), PNG);
    await writeFile(join(dir, 'hicolor', 'scalable', 'apps', 'accessories-editor.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await writeFile(join(dir, 'pixmaps', 'tool.png'), PNG);
  });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  const icons = () => new LinuxAppIcons({ desktopDirs: [join(dir, 'apps')], iconRoots: [join(dir, 'hicolor')], pixmaps: [join(dir, 'pixmaps')] });

  it('finds the icon of the entry whose Exec runs the executable', async () => {
    expect(await icons().icon('/usr/bin/browser', 'browser')).toEqual({ mime: 'image/png', data: PNG.toString('base64') });
    expect((await icons().icon('/usr/local/bin/editor', 'editor'))?.mime).toBe('image/svg+xml');
  });

  it('falls back to an icon named like the app, else none', async () => {
    expect((await icons().icon('/usr/bin/tool', 'tool'))?.mime).toBe('image/png');
    expect(await icons().icon('/usr/bin/curl', 'curl')).toBeNull();
  });

  it('never reads outside the icon directories for a hostile icon name', async () => {
    await writeFile(join(dir, 'apps', 'evil.desktop'), '[Desktop Entry]\nExec=/usr/bin/evil\nIcon=../../../../etc/passwd\n');
    expect(await icons().icon('/usr/bin/evil', 'evil')).toBeNull();
  });
});
