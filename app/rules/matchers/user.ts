// Rules layer, leaf matcher: the user owning the flow's process, by user name (exact,
// case-sensitive) or numeric uid. Unknown: no attribution (app null or kind 'unknown'). Default: no match.
import type { PreparedFlow } from '../flow.js';
import { listText, unknownResult, type LeafMatcher, type MatchResult, type OnUnknown } from '../matcher.js';

/** The default when the process (and so its user) is unknown. */
export const USER_ON_UNKNOWN_DEFAULT: OnUnknown = 'no-match';

class UserMatcher implements LeafMatcher {
  readonly kind = 'user';
  readonly onUnknown: OnUnknown;
  readonly #names: Set<string>;
  readonly #uids: Set<number>;
  readonly #wanted: string[];

  constructor(users: readonly (string | number)[], onUnknown: OnUnknown) {
    this.onUnknown = onUnknown;
    this.#names = new Set(users.filter((u): u is string => typeof u === 'string'));
    this.#uids = new Set(users.filter((u): u is number => typeof u === 'number'));
    this.#wanted = users.map(String);
  }

  test(flow: PreparedFlow): boolean {
    const app = flow.facts.app;
    if (app === null || app.kind !== 'process') return this.onUnknown === 'match';
    return this.#names.has(app.process.user) || this.#uids.has(app.process.uid);
  }

  explain(flow: PreparedFlow): MatchResult {
    const app = flow.facts.app;
    if (app === null || app.kind !== 'process') return unknownResult('user (app unknown)', this.onUnknown);
    const { user, uid } = app.process;
    const matched = this.test(flow);
    return { matched, unknown: false, reason: matched ? `user ${user} (uid ${uid}) is in ${listText(this.#wanted)}` : `user ${user} (uid ${uid}) is not in ${listText(this.#wanted)}` };
  }
}

/** Builds a user matcher from names and uids. */
export function userMatcher(users: readonly (string | number)[], onUnknown: OnUnknown = USER_ON_UNKNOWN_DEFAULT): LeafMatcher {
  return new UserMatcher(users, onUnknown);
}
