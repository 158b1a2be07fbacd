// native/process — app icons on Linux, as the desktop gives them: the .desktop entry whose Exec names
// the executable (XDG Desktop Entry spec), then its Icon resolved in the icon theme directories
// (hicolor, sizes near 48 px first; then /usr/share/pixmaps). PNG and SVG only, at most MAX_ICON_BYTES.
// Looked up on request (the UI asks once per app), cached; never on the packet path.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, isAbsolute, join } from 'node:path';
import type { AppIcon, AppIconSource } from '../../app/os/process.js';

const MAX_ICON_BYTES = 256 * 1024;
const DESKTOP_DIRS = ['/usr/share/applications', '/usr/local/share/applications', '/var/lib/flatpak/exports/share/applications', '/var/lib/snapd/desktop/applications'];
const ICON_ROOTS = ['/usr/share/icons/hicolor', '/usr/local/share/icons/hicolor'];
const SIZES = ['48x48', '64x64', '32x32', '128x128', '256x256', 'scalable', '24x24', '16x16'];
const PIXMAPS = ['/usr/share/pixmaps'];
const MIME: Record<string, AppIcon['mime']> = { '.png': 'image/png', '.svg': 'image/svg+xml' };

/** The Exec and Icon of a .desktop file's [Desktop Entry] group; null when it has none. */
export function parseDesktopEntry(text: string): { exec: string; icon: string } | null {
  let inEntry = false, exec = '', icon = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) { inEntry = line === '[Desktop Entry]'; continue; }
    if (!inEntry) continue;
    if (line.startsWith('Exec=') && exec === '') exec = line.slice(5);
    else if (line.startsWith('Icon=') && icon === '') icon = line.slice(5);
  }
  return exec && icon ? { exec, icon } : null;
}

/** The program an Exec line runs: its first word (quotes removed), skipping `env VAR=…` prefixes. */
export function execProgram(exec: string): string {
  const words = exec.match(/"[^"]*"|\S+/g) ?? [];
  let i = 0;
  if (words[i] === 'env') { i++; while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!)) i++; }
  return (words[i] ?? '').replace(/^"|"$/g, '');
}

/** True when an Exec program names this executable (a full path, or the same file name). */
export function execMatches(program: string, exe: string, name: string): boolean {
  if (program === '') return false;
  if (isAbsolute(program)) return program === exe;
  return program === basename(exe) || program === name;
}

export interface LinuxIconOptions {
  desktopDirs?: string[];
  iconRoots?: string[];
  pixmaps?: string[];
}

/** Finds app icons through .desktop entries and the hicolor theme; cached per executable. */
export class LinuxAppIcons implements AppIconSource {
  readonly #o: Required<LinuxIconOptions>;
  #entries: Promise<{ exec: string; icon: string }[]> | null = null;
  readonly #cache = new Map<string, Promise<AppIcon | null>>();

  constructor(options: LinuxIconOptions = {}) {
    this.#o = { desktopDirs: options.desktopDirs ?? DESKTOP_DIRS, iconRoots: options.iconRoots ?? ICON_ROOTS, pixmaps: options.pixmaps ?? PIXMAPS };
  }

  icon(exe: string, name: string): Promise<AppIcon | null> {
    const key = `${exe}\u0000${name}`;
    let p = this.#cache.get(key);
    if (!p) {
      p = this.#find(exe, name).catch(() => null);
      if (this.#cache.size > 512) this.#cache.clear();
      this.#cache.set(key, p);
    }
    return p;
  }

  async #find(exe: string, name: string): Promise<AppIcon | null> {
    const entries = await (this.#entries ??= this.#readEntries());
    const entry = entries.find((e) => execMatches(execProgram(e.exec), exe, name));
    const iconName = entry?.icon ?? name;
    return this.#resolve(iconName);
  }

  async #readEntries(): Promise<{ exec: string; icon: string }[]> {
    const out: { exec: string; icon: string }[] = [];
    for (const dir of this.#o.desktopDirs) {
      let files: string[];
      try { files = await readdir(dir); } catch { continue; }
      for (const f of files) {
        if (!f.endsWith('.desktop')) continue;
        const e = parseDesktopEntry(await readFile(join(dir, f), 'utf8').catch(() => ''));
        if (e) out.push(e);
      }
    }
    return out;
  }

  async #resolve(icon: string): Promise<AppIcon | null> {
    if (isAbsolute(icon)) return readIcon(icon);
    if (!/^[A-Za-z0-9_.+-]{1,128}$/.test(icon)) return null;
    for (const root of this.#o.iconRoots) {
      for (const size of SIZES) {
        for (const ext of size === 'scalable' ? ['.svg'] : ['.png', '.svg']) {
          const found = await readIcon(join(root, size, 'apps', `${icon}${ext}`));
          if (found) return found;
        }
      }
    }
    for (const dir of this.#o.pixmaps) {
      for (const ext of ['.png', '.svg']) {
        const found = await readIcon(join(dir, `${icon}${ext}`));
        if (found) return found;
      }
    }
    return null;
  }
}

async function readIcon(path: string): Promise<AppIcon | null> {
  const mime = MIME[extname(path)];
  if (!mime) return null;
  try {
    const st = await stat(path);
    if (!st.isFile() || st.size > MAX_ICON_BYTES) return null;
    return { mime, data: (await readFile(path)).toString('base64') };
  } catch {
    return null;
  }
}
