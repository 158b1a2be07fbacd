// main — the window's security policy, as data and pure verdicts (Electron's security checklist):
// our own `app://switchyard` origin only (a privileged standard scheme, so CSP 'self' and the module
// scripts of the built renderer work without file://), a strict CSP, an isolated sandboxed renderer
// without Node, no navigation or new windows anywhere else, no permissions, no devtools in production.
// electron-edge.ts applies it; the verdicts are here so they are tested without Electron.
import type { BrowserWindowConstructorOptions, CustomScheme } from 'electron';

/** The renderer's scheme and host: app://switchyard/index.html. */
export const APP_SCHEME = 'app';
export const APP_HOST = 'switchyard';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
/** The page the window loads. */
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

/**
 * The renderer's Content-Security-Policy: only our own origin; inline styles (Svelte transitions set
 * style attributes), data: images (inline icons). base-uri/form-action/frame-ancestors are not
 * covered by default-src, so they are closed explicitly.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The scheme registration (before `ready`): standard + secure so it has an origin and a secure context. */
export const APP_SCHEME_PRIVILEGES: CustomScheme = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true },
};

/** Inputs of windowOptions. */
export interface WindowInputs {
  /** Absolute path of the bundled preload (dist/main/preload.cjs). */
  preloadPath: string;
  /** Packaged build: no devtools. */
  production: boolean;
  /** Window icon (Linux/Windows), if any. */
  iconPath?: string;
}

/** The BrowserWindow options: every web preference that matters for security is set explicitly. */
export function windowOptions(inputs: WindowInputs): BrowserWindowConstructorOptions {
  return {
    title: 'Switchyard',
    width: 1180,
    height: 760,
    minWidth: 760,
    minHeight: 480,
    show: false, // shown on ready-to-show: no white flash
    autoHideMenuBar: true,
    backgroundColor: '#16181d',
    ...(inputs.iconPath ? { icon: inputs.iconPath } : {}),
    webPreferences: {
      preload: inputs.preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      devTools: !inputs.production,
    },
  };
}

/** True when `url` is a page of our own app origin (app://switchyard/…). */
export function isAppUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST;
  } catch {
    return false;
  }
}

/** What to do when the page tries to navigate (will-navigate, will-redirect, will-frame-navigate). */
export function navigationVerdict(url: string): 'allow' | 'deny' {
  return isAppUrl(url) ? 'allow' : 'deny';
}

/** window.open and target=_blank: never a new window. */
export function windowOpenVerdict(_url: string): { action: 'deny' } {
  return { action: 'deny' };
}

/** Permission requests and checks (camera, notifications, geolocation, …): all denied. */
export function permissionVerdict(_permission: string): false {
  return false;
}
