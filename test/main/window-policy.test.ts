// The window's policy as data: CSP, origin checks, app:// path resolution, paths and sockets; and the
// rule that only the two edges import `electron` at run time.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { contentTypeOf, resolveAppRequest, responseHeaders } from '../../main/app-protocol.js';
import { appPaths, controlSocketPath } from '../../main/paths.js';
import {
  APP_ENTRY_URL, CONTENT_SECURITY_POLICY, isAppUrl, navigationVerdict, permissionVerdict, windowOpenVerdict, windowOptions,
} from '../../main/window-policy.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('window policy', () => {
  it('has the strict CSP: self only, inline styles, data: images, and the non-defaulting directives closed', () => {
    expect(CONTENT_SECURITY_POLICY).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
      "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline|\*/);
  });

  it('sets every security-relevant web preference explicitly', () => {
    const o = windowOptions({ preloadPath: '/p.cjs', production: true });
    expect(o.webPreferences).toEqual({
      preload: '/p.cjs', contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false, webSecurity: true, allowRunningInsecureContent: false, webviewTag: false,
      experimentalFeatures: false, navigateOnDragDrop: false, safeDialogs: true, spellcheck: false, devTools: false,
    });
  });

  it.each([
    ['app://switchyard/index.html', true],
    ['app://switchyard/', true],
    ['app://switchyard.evil/', false],
    ['app://evil/', false],
    ['https://switchyard/', false],
    ['file:///index.html', false],
    ['not a url', false],
  ])('isAppUrl(%s) is %s', (url, ok) => {
    expect(isAppUrl(url)).toBe(ok);
    expect(navigationVerdict(url)).toBe(ok ? 'allow' : 'deny');
  });

  it('denies window.open and every permission', () => {
    expect(windowOpenVerdict('app://switchyard/x')).toEqual({ action: 'deny' });
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal']) expect(permissionVerdict(p)).toBe(false);
    expect(isAppUrl(APP_ENTRY_URL)).toBe(true);
  });
});

describe('app:// requests', () => {
  const root = '/opt/S/resources/app.asar/dist/renderer';
  it.each([
    ['app://switchyard/', { file: `${root}/index.html`, contentType: 'text/html; charset=utf-8' }],
    ['app://switchyard/assets/index-abc.js', { file: `${root}/assets/index-abc.js`, contentType: 'text/javascript; charset=utf-8' }],
    ['app://switchyard/assets/index.css?v=1', { file: `${root}/assets/index.css`, contentType: 'text/css; charset=utf-8' }],
    ['app://switchyard/sessions', { file: `${root}/index.html`, contentType: 'text/html; charset=utf-8' }],
    ['app://switchyard/a%20b.png', { file: `${root}/a b.png`, contentType: 'image/png' }],
    ['app://switchyard/..%2f..%2fetc%2fshadow.txt', { file: `${root}/etc/shadow.txt`, contentType: 'text/plain; charset=utf-8' }], // decoded, then pinned under the root
    ['app://other/index.html', { status: 403 }],
    ['https://switchyard/index.html', { status: 403 }],
    ['app://switchyard/%E0%A4%A', { status: 400 }],
    ['app://switchyard/a%00b.js', { status: 400 }],
    ['app://switchyard/..%5cwin.ini', { status: 400 }],
  ])('%s', (url, expected) => {
    expect(resolveAppRequest(url, root)).toEqual(expected);
  });

  it('sends the CSP, nosniff and a content type with every response', () => {
    expect(responseHeaders('text/html')).toEqual({
      'Content-Type': 'text/html', 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache',
    });
    expect(contentTypeOf('x.woff2')).toBe('font/woff2');
    expect(contentTypeOf('x.unknown')).toBe('application/octet-stream');
  });
});

describe('paths and sockets', () => {
  it('finds the renderer, preload, icons and service files, packaged and in development', () => {
    expect(appPaths({ platform: 'linux', isPackaged: true, appPath: '/opt/S/resources/app.asar', resourcesPath: '/opt/S/resources', execPath: '/opt/S/switchyard-desktop' })).toEqual({
      rendererDir: '/opt/S/resources/app.asar/dist/renderer',
      preloadPath: '/opt/S/resources/app.asar/dist/main/preload.cjs',
      trayIconDir: '/opt/S/resources/icons',
      serviceResourcesDir: '/opt/S/resources/service',
      windowIcon: '/opt/S/resources/icons/app.png',
    });
    expect(appPaths({ platform: 'linux', isPackaged: false, appPath: '/src', resourcesPath: '/x', execPath: '/e' })).toMatchObject({
      preloadPath: '/src/dist/main/preload.cjs', trayIconDir: '/src/build/icons/tray', serviceResourcesDir: '/src/build',
    });
  });

  it('connects where the service listens on each OS, or to $SWITCHYARD_SOCKET', () => {
    expect(controlSocketPath('linux', {})).toBe('/run/switchyard/control.sock');
    expect(controlSocketPath('darwin', {})).toBe('/var/run/switchyard/control.sock');
    expect(controlSocketPath('win32', {})).toBe('\\\\.\\pipe\\switchyard');
    expect(controlSocketPath('linux', { SWITCHYARD_SOCKET: '/tmp/s.sock' })).toBe('/tmp/s.sock');
  });
});

describe('the thin edge', () => {
  function tsFiles(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((d) => d.isDirectory() ? tsFiles(path.join(dir, d.name)) : d.name.endsWith('.ts') ? [path.join(dir, d.name)] : []);
  }
  it('only electron-edge.ts (main) and preload.ts (renderer) import electron at run time', () => {
    const importers = tsFiles(path.join(ROOT, 'main')).filter((f) => {
      const src = readFileSync(f, 'utf8');
      // import … from 'electron' / 'electron/main' / 'electron/renderer', but not `import type`
      return /^\s*import\s+(?!type\b)[^;]*from\s+['"]electron(\/\w+)?['"]/m.test(src) || /require\(['"]electron/.test(src) || /import\(['"]electron/.test(src);
    }).map((f) => path.relative(ROOT, f));
    expect(importers.sort()).toEqual(['main/electron-edge.ts', 'main/preload.ts']);
  });

  it('index.ts only composes: no classes, no branching on the platform beyond picking modules', () => {
    const src = readFileSync(path.join(ROOT, 'main/index.ts'), 'utf8');
    expect(src).not.toMatch(/\bclass\s/);
    expect(src).not.toMatch(/from ['"]electron/);
    expect(src.match(/process\.platform/g) ?? []).toEqual([]);
  });
});
