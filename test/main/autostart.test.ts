// "Start at login" on Linux: the XDG autostart entry's text, its path, and the file edge.
import { describe, expect, it } from 'vitest';
import {
  HIDDEN_ARG, XdgAutostart, autostartFile, desktopExecArg, entryEnabled, launchTarget, renderAutostartEntry, startsHidden, type AutostartFs,
} from '../../main/autostart.js';

describe('the autostart entry', () => {
  it('is a Desktop Entry that starts the app hidden in the tray', () => {
    expect(renderAutostartEntry('/opt/Switchyard/switchyard-desktop')).toBe([
      '[Desktop Entry]',
      'Type=Application',
      'Version=1.0',
      'Name=Switchyard',
      'Comment=Per-app routing: the Switchyard tray',
      'Exec=/opt/Switchyard/switchyard-desktop --hidden',
      'Icon=switchyard-desktop',
      'Terminal=false',
      'Categories=Network;',
      'X-GNOME-Autostart-enabled=true',
      '',
    ].join('\n'));
  });

  it.each([
    ['a plain path', '/usr/bin/app', '/usr/bin/app'],
    ['a space: quoted', '/home/a b/Switchyard.AppImage', '"/home/a b/Switchyard.AppImage"'],
    ['a dollar and a quote: escaped inside quotes', '/x/$HOME"q', '"/x/\\\\$HOME\\\\"q"'],
    ['a backslash: escaped twice (quoting, then the string value)', '/x/a\\b', '"/x/a\\\\\\\\b"'],
    ['a percent sign: doubled (field codes)', '/x/100%', '/x/100%%'],
    ['an empty argument', '', '""'],
  ])('quotes %s', (_, arg, expected) => {
    expect(desktopExecArg(arg)).toBe(expected);
  });

  it('refuses a line break in an argument', () => {
    expect(() => desktopExecArg('/a\nb')).toThrow(/line break/);
  });

  it('lives in $XDG_CONFIG_HOME/autostart, else ~/.config/autostart; a relative XDG_CONFIG_HOME is ignored', () => {
    expect(autostartFile({}, '/home/alice')).toBe('/home/alice/.config/autostart/switchyard.desktop');
    expect(autostartFile({ XDG_CONFIG_HOME: '/cfg' }, '/home/alice')).toBe('/cfg/autostart/switchyard.desktop');
    expect(autostartFile({ XDG_CONFIG_HOME: 'cfg' }, '/home/alice')).toBe('/home/alice/.config/autostart/switchyard.desktop');
  });

  it('starts the AppImage file itself, not its temporary mount', () => {
    expect(launchTarget('/tmp/.mount_SwitchXYZ/switchyard-desktop', { APPIMAGE: '/home/a/Switchyard.AppImage' })).toBe('/home/a/Switchyard.AppImage');
    expect(launchTarget('/opt/Switchyard/switchyard-desktop', {})).toBe('/opt/Switchyard/switchyard-desktop');
  });

  it('starts hidden with --hidden or when macOS opened it at login', () => {
    expect(startsHidden(['/app', HIDDEN_ARG])).toBe(true);
    expect(startsHidden(['/app'], true)).toBe(true);
    expect(startsHidden(['/app'])).toBe(false);
  });

  it('counts an entry as off when it disables itself', () => {
    expect(entryEnabled(renderAutostartEntry('/a'))).toBe(true);
    expect(entryEnabled('[Desktop Entry]\nHidden=true\n')).toBe(false);
    expect(entryEnabled('[Desktop Entry]\nX-GNOME-Autostart-enabled=false\n')).toBe(false);
  });
});

describe('XdgAutostart', () => {
  function memFs() {
    const files = new Map<string, string>();
    const dirs: string[] = [];
    const fs: AutostartFs = {
      async readFile(f) { const t = files.get(f); if (t === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' }); return t; },
      async writeFile(f, t) { files.set(f, t); },
      async mkdir(d) { dirs.push(d); },
      async rm(f) { files.delete(f); },
    };
    return { fs, files, dirs };
  }

  it('writes, reads and removes the entry', async () => {
    const { fs, files, dirs } = memFs();
    const file = '/home/alice/.config/autostart/switchyard.desktop';
    const items = new XdgAutostart({ file, exec: '/opt/Switchyard/switchyard-desktop', fs });
    expect(await items.get()).toBe(false);
    await items.set(true);
    expect(dirs).toEqual(['/home/alice/.config/autostart']);
    expect(files.get(file)).toContain('Exec=/opt/Switchyard/switchyard-desktop --hidden');
    expect(await items.get()).toBe(true);
    await items.set(false);
    expect(files.has(file)).toBe(false);
    expect(await items.get()).toBe(false);
  });
});
