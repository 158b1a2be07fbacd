// renderer — the UI's own preferences (not the service's state): the colour theme. Kept in
// localStorage; applied as `data-theme` on <html>, which styles.css reads (no attribute = follow
// prefers-color-scheme).

export const THEMES = ['system', 'light', 'dark'] as const;
export type ThemeChoice = (typeof THEMES)[number];

const THEME_KEY = 'switchyard.theme';

/** Preferences, read once at start and written on change. */
export class Prefs {
  theme = $state.raw<ThemeChoice>('system');
  readonly #storage: Pick<Storage, 'getItem' | 'setItem'> | null;

  constructor(storage: Pick<Storage, 'getItem' | 'setItem'> | null) {
    this.#storage = storage;
    let saved: string | null = null;
    try { saved = storage?.getItem(THEME_KEY) ?? null; } catch { /* storage disabled */ }
    if ((THEMES as readonly string[]).includes(saved ?? '')) this.theme = saved as ThemeChoice;
  }

  setTheme(t: ThemeChoice): void {
    this.theme = t;
    try { this.#storage?.setItem(THEME_KEY, t); } catch { /* not kept; still applied now */ }
  }
}

/** Applies a theme choice to the document. */
export function applyTheme(root: HTMLElement, t: ThemeChoice): void {
  if (t === 'system') root.removeAttribute('data-theme');
  else root.setAttribute('data-theme', t);
}
