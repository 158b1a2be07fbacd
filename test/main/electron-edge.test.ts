// The Electron edge with `electron` mocked: the window's options and loaded URL, the navigation,
// window.open, webview and permission denials on every webContents, the app:// protocol handler
// with its CSP, the tray, login items and the single-instance lock.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';

type Listener = (...args: any[]) => unknown;
const e = vi.hoisted(() => {
  class Emitter {
    listeners = new Map<string, Listener[]>();
    on(name: string, l: Listener) { this.listeners.set(name, [...(this.listeners.get(name) ?? []), l]); return this; }
    once(name: string, l: Listener) { return this.on(name, l); }
    emit(name: string, ...args: unknown[]) { for (const l of this.listeners.get(name) ?? []) l(...args); }
  }
  class FakeWebContents extends Emitter {
    windowOpenHandler: Listener | null = null;
    sent: unknown[][] = [];
    setWindowOpenHandler(h: Listener) { this.windowOpenHandler = h; }
    send(...args: unknown[]) { this.sent.push(args); }
  }
  const windows: FakeBrowserWindow[] = [];
  class FakeBrowserWindow extends Emitter {
    webContents = new FakeWebContents();
    loaded: string[] = [];
    shown = 0; focused = 0; destroyed = false; minimized = false;
    constructor(public options: any) { super(); windows.push(this); }
    loadURL(url: string) { this.loaded.push(url); return Promise.resolve(); }
    show() { this.shown++; }
    focus() { this.focused++; }
    restore() { this.minimized = false; }
    isMinimized() { return this.minimized; }
    isDestroyed() { return this.destroyed; }
  }
  const trays: FakeTray[] = [];
  class FakeTray extends Emitter {
    images: string[] = []; tooltips: string[] = []; menus: any[] = [];
    constructor(image: { path: string }) { super(); this.images.push(image.path); trays.push(this); }
    setImage(image: { path: string }) { this.images.push(image.path); }
    setToolTip(t: string) { this.tooltips.push(t); }
    setContextMenu(m: any) { this.menus.push(m); }
  }
  const app = Object.assign(new Emitter(), {
    lock: true,
    loginItem: { openAtLogin: false, wasOpenedAtLogin: false },
    setCalls: [] as unknown[], getCalls: [] as unknown[],
    requestSingleInstanceLock() { return app.lock; },
    getLoginItemSettings(o: unknown) { app.getCalls.push(o); return app.loginItem; },
    setLoginItemSettings(o: { openAtLogin: boolean }) { app.setCalls.push(o); app.loginItem = { ...app.loginItem, openAtLogin: o.openAtLogin }; },
    whenReady: () => Promise.resolve(),
    quit: vi.fn(),
    isPackaged: true,
    getAppPath: () => '/opt/Switchyard/resources/app.asar',
  });
  const protocol = { schemes: [] as unknown[], handlers: new Map<string, Listener>(),
    registerSchemesAsPrivileged(s: unknown[]) { protocol.schemes.push(...s); },
    handle(scheme: string, h: Listener) { protocol.handlers.set(scheme, h); } };
  const session = { defaultSession: { permissionRequest: null as Listener | null, permissionCheck: null as Listener | null, headers: null as Listener | null,
    setPermissionRequestHandler(h: Listener) { session.defaultSession.permissionRequest = h; },
    setPermissionCheckHandler(h: Listener) { session.defaultSession.permissionCheck = h; },
    webRequest: { onHeadersReceived(h: Listener) { session.defaultSession.headers = h; } } } };
  return {
    windows, trays, app, protocol, session, FakeWebContents,
    module: {
      app, protocol, session, BrowserWindow: FakeBrowserWindow, Tray: FakeTray,
      Menu: { buildFromTemplate: (t: unknown) => ({ template: t }), setApplicationMenu: vi.fn() },
      nativeImage: { createFromPath: (p: string) => ({ path: p }) },
      dialog: { showMessageBox: vi.fn(async () => ({ response: 0 })) },
      ipcMain: { handle: vi.fn(), removeHandler: vi.fn() },
    },
  };
});
vi.mock('electron', () => e.module);

const edge = await import('../../main/electron-edge.js');
const { CONTENT_SECURITY_POLICY } = await import('../../main/window-policy.js');

beforeEach(() => { e.windows.length = 0; e.trays.length = 0; });

describe('the window', () => {
  it('is isolated, sandboxed, without Node, web security on, devtools off in production, and loads app://switchyard', () => {
    const handle = edge.createWindow({ preloadPath: '/opt/S/resources/app.asar/dist/main/preload.cjs', production: true });
    const win = e.windows[0]!;
    expect(win.options.webPreferences).toMatchObject({
      preload: '/opt/S/resources/app.asar/dist/main/preload.cjs',
      contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, nodeIntegrationInSubFrames: false,
      webSecurity: true, allowRunningInsecureContent: false, webviewTag: false, devTools: false,
    });
    expect(win.options.show).toBe(false);
    expect(win.loaded).toEqual(['app://switchyard/index.html']);
    win.emit('ready-to-show');
    expect(win.shown).toBe(1);
    handle.send('switchyard:event', { event: 'tick' });
    expect(win.webContents.sent).toEqual([['switchyard:event', { event: 'tick' }]]);
    win.destroyed = true;
    handle.send('switchyard:event', {});
    expect(win.webContents.sent).toHaveLength(1); // nothing sent to a destroyed window
  });

  it('keeps devtools in development', () => {
    edge.createWindow({ preloadPath: '/p', production: false });
    expect(e.windows[0]!.options.webPreferences.devTools).toBe(true);
  });

  it('focus restores a minimised window; onClosed reports the close', () => {
    const handle = edge.createWindow({ preloadPath: '/p', production: true });
    const win = e.windows[0]!;
    win.minimized = true;
    handle.focus();
    expect(win.minimized).toBe(false);
    expect(win.focused).toBe(1);
    const closed = vi.fn();
    handle.onClosed(closed);
    win.emit('closed');
    expect(closed).toHaveBeenCalledOnce();
  });
});

describe('every webContents', () => {
  function hardened() {
    const wc = new e.FakeWebContents();
    edge.hardenWebContents(wc as never);
    const fire = (name: string, url: string) => { const ev = { url, preventDefault: vi.fn() }; wc.emit(name, ev); return ev.preventDefault.mock.calls.length > 0; };
    return { wc, fire };
  }

  it.each(['will-navigate', 'will-redirect', 'will-frame-navigate'])('%s: other origins are denied, our own allowed', (name) => {
    const { fire } = hardened();
    expect(fire(name, 'https://example.com/')).toBe(true);
    expect(fire(name, 'file:///etc/passwd')).toBe(true);
    expect(fire(name, 'app://evil/index.html')).toBe(true);
    expect(fire(name, 'javascript:alert(1)')).toBe(true);
    expect(fire(name, 'app://switchyard/sessions')).toBe(false);
  });

  it('denies window.open and <webview>', () => {
    const { wc } = hardened();
    expect(wc.windowOpenHandler!({ url: 'https://example.com/' })).toEqual({ action: 'deny' });
    expect(wc.windowOpenHandler!({ url: 'app://switchyard/index.html' })).toEqual({ action: 'deny' });
    const ev = { preventDefault: vi.fn() };
    wc.emit('will-attach-webview', ev);
    expect(ev.preventDefault).toHaveBeenCalled();
  });

  it('is hardened as it is created, the app stays up without windows, no menu in production', () => {
    edge.lifecycle.install(true);
    const wc = new e.FakeWebContents();
    e.app.emit('web-contents-created', {}, wc);
    expect(wc.windowOpenHandler).not.toBeNull();
    expect(e.app.listeners.get('window-all-closed')).toHaveLength(1);
    if (process.platform !== 'darwin') expect(e.module.Menu.setApplicationMenu).toHaveBeenCalledWith(null);
  });
});

describe('app:// and the session', () => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'sy-renderer-'));
  const dir = path.join(base, 'renderer');
  mkdirSync(path.join(dir, 'assets'), { recursive: true });
  writeFileSync(path.join(base, 'secret.txt'), 'outside the renderer');
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>Switchyard</title>');
  writeFileSync(path.join(dir, 'assets', 'app.js'), 'export {}');
  afterAll(() => { rmSync(base, { recursive: true, force: true }); });

  it('registers app as a standard, secure scheme before ready', () => {
    edge.registerAppScheme();
    expect(e.protocol.schemes).toContainEqual({ scheme: 'app', privileges: expect.objectContaining({ standard: true, secure: true }) });
  });

  it('serves the renderer with the CSP on every response, and nothing outside it', async () => {
    edge.serveRenderer(dir);
    const handle = e.protocol.handlers.get('app')!;
    const get = (url: string) => handle({ url }) as Promise<Response>;
    const index = await get('app://switchyard/');
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('<title>Switchyard</title>');
    expect(index.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const js = await get('app://switchyard/assets/app.js');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await get('app://switchyard/assets/missing.js')).status).toBe(404);
    for (const escape of ['app://switchyard/..%2fsecret.txt', 'app://switchyard/%2e%2e/secret.txt', 'app://switchyard/assets/..%2f..%2fsecret.txt']) {
      const r = await get(escape);
      expect(r.status, escape).toBe(404);
      expect(await r.text()).not.toContain('outside');
    }
    expect((await get('app://switchyard/..%5csecret.txt')).status).toBe(400);
    expect((await get('app://other/index.html')).status).toBe(403);
  });

  it('denies every permission and adds the CSP to every response header set', () => {
    const s = e.session.defaultSession;
    const cb = vi.fn();
    s.permissionRequest!({}, 'media', cb);
    expect(cb).toHaveBeenCalledWith(false);
    expect(s.permissionCheck!({}, 'notifications')).toBe(false);
    const headers = vi.fn();
    s.headers!({ responseHeaders: { 'X-A': ['1'] } }, headers);
    expect(headers).toHaveBeenCalledWith({ responseHeaders: { 'X-A': ['1'], 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
  });
});

describe('tray, login items, single instance', () => {
  it('renders the icon, tooltip and menu; a click reports its action', () => {
    const actions: string[] = [];
    const tray = edge.createTray('/res/icons', (a) => actions.push(a));
    const t = e.trays[0]!;
    expect(t.images).toEqual(['/res/icons/tray-disconnected.png']);
    tray.render({ icon: 'on', tooltip: 'Switchyard: routing on' }, [
      { kind: 'label', label: 'Routing is on' },
      { kind: 'checkbox', action: 'toggle-routing', label: 'Route', checked: true, enabled: true },
      { kind: 'separator' },
      { kind: 'action', action: 'quit', label: 'Quit Switchyard', enabled: true },
    ]);
    expect(t.images.at(-1)).toBe('/res/icons/tray-on.png');
    expect(t.tooltips).toEqual(['Switchyard: routing on']);
    const template = t.menus[0].template as { label?: string; type?: string; checked?: boolean; enabled?: boolean; click?: () => void }[];
    expect(template.map((i) => i.type ?? 'normal')).toEqual(['normal', 'checkbox', 'separator', 'normal']);
    expect(template[0]).toEqual({ label: 'Routing is on', enabled: false });
    expect(template[1]).toMatchObject({ checked: true, enabled: true });
    template[1]!.click!();
    template[3]!.click!();
    expect(actions).toEqual(['toggle-routing', 'quit']);
  });

  it('login items go through setLoginItemSettings with --hidden', async () => {
    await edge.electronLoginItems.set(true);
    expect(e.app.setCalls.at(-1)).toEqual({ openAtLogin: true, args: ['--hidden'] });
    expect(await edge.electronLoginItems.get()).toBe(true);
    expect(e.app.getCalls.at(-1)).toEqual({ args: ['--hidden'] });
  });

  it('a second instance focuses the first; without the lock this one quits', () => {
    const focus = vi.fn();
    e.app.lock = true;
    expect(edge.lifecycle.claimSingleInstance(focus)).toBe(true);
    e.app.emit('second-instance', {}, ['x']);
    expect(focus).toHaveBeenCalledOnce();
    e.app.lock = false;
    expect(edge.lifecycle.claimSingleInstance(focus)).toBe(false);
  });
});
