// main — "Start at login". Windows and macOS: Electron's app.setLoginItemSettings (in the edge).
// Linux: an XDG autostart entry, ~/.config/autostart/switchyard.desktop (XDG Autostart spec; the
// Exec line quoted per the Desktop Entry spec), rendered here and written through a small fs edge.
// Started at login, the app stays in the tray (HIDDEN_ARG) instead of opening its window.
import path from 'node:path';

/** Start at login on or off. */
export interface LoginItems {
  get(): Promise<boolean>;
  set(enabled: boolean): Promise<void>;
}

/** The argument a login start passes: start in the tray. */
export const HIDDEN_ARG = '--hidden';

/** True when the app should start without opening its window. */
export function startsHidden(argv: readonly string[], openedAtLogin = false): boolean {
  return openedAtLogin || argv.includes(HIDDEN_ARG);
}

// Desktop Entry spec, "The Exec key": characters that force quoting of an argument.
const RESERVED = /[\s"'\\><~|&;$*?#()`]/;

/**
 * One Exec argument: quoted when it has a reserved character ("…" with \" \` \$ \\ escaped), `%`
 * doubled (field codes), then escaped once more as a string value (\\ for each backslash).
 */
export function desktopExecArg(arg: string): string {
  if (/[\n\r]/.test(arg)) throw new Error('an Exec argument cannot contain a line break');
  const fieldSafe = arg.replaceAll('%', '%%');
  const quoted = arg === '' || RESERVED.test(fieldSafe) ? `"${fieldSafe.replace(/["`$\\]/g, (c) => '\\' + c)}"` : fieldSafe;
  return quoted.replaceAll('\\', '\\\\');
}

/** The autostart entry's text. */
export function renderAutostartEntry(exec: string, args: readonly string[] = [HIDDEN_ARG]): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Version=1.0',
    'Name=Switchyard',
    'Comment=Per-app routing: the Switchyard tray',
    `Exec=${[exec, ...args].map(desktopExecArg).join(' ')}`,
    'Icon=switchyard-desktop',
    'Terminal=false',
    'Categories=Network;',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** ~/.config/autostart/switchyard.desktop, or under $XDG_CONFIG_HOME when it is an absolute path. */
export function autostartFile(env: Record<string, string | undefined>, home: string): string {
  const xdg = env['XDG_CONFIG_HOME'];
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(home, '.config');
  return path.join(base, 'autostart', 'switchyard.desktop');
}

/** What to start at login: the AppImage file itself when running from one (its mount point is temporary). */
export function launchTarget(execPath: string, env: Record<string, string | undefined>): string {
  return env['APPIMAGE'] || execPath;
}

/** The file operations XdgAutostart needs. */
export interface AutostartFs {
  readFile(file: string): Promise<string>;
  writeFile(file: string, text: string): Promise<void>;
  mkdir(dir: string): Promise<void>;
  rm(file: string): Promise<void>;
}

/** An entry that is present counts as on unless it disables itself. */
export function entryEnabled(text: string): boolean {
  return !/^\s*(Hidden\s*=\s*true|X-GNOME-Autostart-enabled\s*=\s*false)\s*$/m.test(text);
}

/** Linux: the XDG autostart file. */
export class XdgAutostart implements LoginItems {
  readonly #file: string;
  readonly #exec: string;
  readonly #fs: AutostartFs;
  constructor(opts: { file: string; exec: string; fs: AutostartFs }) {
    this.#file = opts.file; this.#exec = opts.exec; this.#fs = opts.fs;
  }

  async get(): Promise<boolean> {
    try { return entryEnabled(await this.#fs.readFile(this.#file)); } catch { return false; }
  }

  async set(enabled: boolean): Promise<void> {
    if (!enabled) { await this.#fs.rm(this.#file); return; }
    await this.#fs.mkdir(path.dirname(this.#file));
    await this.#fs.writeFile(this.#file, renderAutostartEntry(this.#exec));
  }
}
