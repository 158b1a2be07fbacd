// Rules layer, leaf matcher: the process owning the flow, by name (exact or glob) or by executable
// path (glob, '*' within a path segment, '**' across). Case-sensitive unless `ignoreCase` (ASCII).
// Unknown: the flow has no attribution yet (app null) or the lookup failed (kind 'unknown'); an exe
// pattern also treats an empty exe path (the OS did not say) as unknown. Default: no match.
import type { PreparedFlow } from '../flow.js';
import { compileGlob, hasWildcard, type Glob } from '../glob.js';
import { listText, unknownResult, type LeafMatcher, type MatchResult, type OnUnknown } from '../matcher.js';

/** Options of an app matcher; it matches when any name pattern or any exe pattern matches. */
export interface AppMatcherOptions {
  names?: readonly string[];
  exes?: readonly string[];
  ignoreCase?: boolean;
  onUnknown?: OnUnknown;
}

/** The default when the app is unknown: a rule about an app does not claim flows of unknown apps. */
export const APP_ON_UNKNOWN_DEFAULT: OnUnknown = 'no-match';

class AppMatcher implements LeafMatcher {
  readonly kind = 'app';
  readonly onUnknown: OnUnknown;
  readonly #names: Glob[];
  readonly #exes: Glob[];

  constructor(options: AppMatcherOptions) {
    const ignoreCase = options.ignoreCase ?? false;
    this.onUnknown = options.onUnknown ?? APP_ON_UNKNOWN_DEFAULT;
    this.#names = (options.names ?? []).map((p) => compileGlob(p, { path: false, ignoreCase }));
    this.#exes = (options.exes ?? []).map((p) => compileGlob(p, { path: true, ignoreCase }));
  }

  /** -1: unknown; 0: no match; 1 + i: name pattern i; 1 + names + i: exe pattern i. */
  #find(flow: PreparedFlow): number {
    const app = flow.facts.app;
    if (app === null || app.kind !== 'process') return -1;
    const { name, exe } = app.process;
    for (let i = 0; i < this.#names.length; i++) if (this.#names[i]!.test(name)) return 1 + i;
    if (this.#exes.length === 0) return 0;
    if (exe === '') return this.#names.length > 0 ? 0 : -1; // a name already answered
    for (let i = 0; i < this.#exes.length; i++) if (this.#exes[i]!.test(exe)) return 1 + this.#names.length + i;
    return 0;
  }

  test(flow: PreparedFlow): boolean {
    const r = this.#find(flow);
    return r < 0 ? this.onUnknown === 'match' : r > 0;
  }

  explain(flow: PreparedFlow): MatchResult {
    const r = this.#find(flow);
    const app = flow.facts.app;
    if (r < 0) {
      const why = app === null ? 'not looked up' : app.kind === 'unknown' ? app.reason : 'no executable path';
      return unknownResult(`app (${why})`, this.onUnknown);
    }
    const p = (app as { kind: 'process'; process: { name: string; exe: string } }).process;
    if (r > 0) {
      const isName = r <= this.#names.length;
      const g = isName ? this.#names[r - 1]! : this.#exes[r - 1 - this.#names.length]!;
      const how = hasWildcard(g.pattern) ? 'matches glob' : 'is';
      return { matched: true, unknown: false, reason: isName ? `app ${p.name} ${how} '${g.pattern}'` : `app ${p.name} exe ${p.exe} ${how} '${g.pattern}'` };
    }
    const wanted = [...this.#names.map((g) => g.pattern), ...this.#exes.map((g) => g.pattern)];
    return { matched: false, unknown: false, reason: `app ${p.name}${p.exe ? ` (${p.exe})` : ''} matches none of ${listText(wanted)}` };
  }
}

/** Builds an app matcher; with neither names nor exes it never matches a known app. */
export function appMatcher(options: AppMatcherOptions): LeafMatcher {
  return new AppMatcher(options);
}
