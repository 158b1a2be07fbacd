// renderer — the web UI's access token. The service prints a link ending in `#token=…`; the page reads
// it once (app/ui/ws-protocol.ts tokenFromFragment: the same key and format the server uses), keeps it
// in sessionStorage (this tab only, gone when the tab closes) and removes it from the address bar so it
// does not end up in bookmarks, history or screenshots. Browsers never send a fragment to a server.
import { TOKEN_FRAGMENT_KEY, tokenFromFragment } from '../../../app/ui/ws-protocol.js';

const STORAGE_KEY = 'switchyard.token';

/** The token from the URL fragment (then stored and removed from the address bar), else the stored one, else null. */
export function takeToken(loc: Pick<Location, 'hash' | 'pathname' | 'search'>, storage: Pick<Storage, 'getItem' | 'setItem'>,
  history: Pick<History, 'replaceState' | 'state'>): string | null {
  const fragment = new URLSearchParams(loc.hash.replace(/^#/, ''));
  if (fragment.has(TOKEN_FRAGMENT_KEY)) {
    const fromUrl = tokenFromFragment(loc.hash);
    fragment.delete(TOKEN_FRAGMENT_KEY);
    const rest = fragment.toString();
    history.replaceState(history.state, '', `${loc.pathname}${loc.search}${rest ? `#${rest}` : ''}`);
    if (fromUrl !== null) {
      try { storage.setItem(STORAGE_KEY, fromUrl); } catch { /* storage disabled: the token lives for this page only */ }
      return fromUrl;
    }
  }
  try { return storage.getItem(STORAGE_KEY); } catch { return null; }
}
