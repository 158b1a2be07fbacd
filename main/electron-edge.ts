// main — the ONLY main-process module that imports `electron` at run time (preload.ts is the
// renderer-side one; test/main/edge-imports.test.ts holds both to it). It adapts Electron to the small
// interfaces the rest of main/ is written against, and applies window-policy.ts to every webContents:
//
//   app:// protocol ─▶ dist/renderer files + CSP header      every webContents:
//   session: permissions denied, CSP on every response          will-navigate / will-redirect /
//   BrowserWindow(windowOptions) ─▶ loadURL(app://switchyard)   will-frame-navigate: off-origin denied
//   Tray + Menu from the menu model                             window.open denied, no <webview>
import { readFile } from 'node:fs/promises';
import {
  BrowserWindow, Menu, Tray, app, dialog, ipcMain, nativeImage, protocol, session,
  type MenuItemConstructorOptions, type WebContents,
} from 'electron';
import path from 'node:path';
import { resolveAppRequest, responseHeaders } from './app-protocol.js';
import { HIDDEN_ARG, type LoginItems } from './autostart.js';
import type { DialogPort, TrayPort } from './desktop-controller.js';
import type { IpcMainLike } from './ipc-bridge.js';
import type { WindowHandle } from './main-window.js';
import type { MenuAction, MenuItemModel } from './menu-model.js';
import type { RuntimeFacts } from './paths.js';
import type { TrayIcon } from './tray-state.js';
import {
  APP_ENTRY_URL, APP_SCHEME, APP_SCHEME_PRIVILEGES, CONTENT_SECURITY_POLICY, navigationVerdict, permissionVerdict, windowOpenVerdict,
  windowOptions, type WindowInputs,
} from './window-policy.js';

/** Registers app:// as a privileged scheme; must run before `ready`. */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES]);
}

/** Applies the navigation policy to one webContents (every one, via web-contents-created). */
export function hardenWebContents(wc: WebContents): void {
  const guard = (event: { url: string; preventDefault(): void }): void => {
    if (navigationVerdict(event.url) === 'deny') event.preventDefault();
  };
  wc.on('will-navigate', guard);
  wc.on('will-redirect', guard);
  wc.on('will-frame-navigate', guard);
  wc.on('will-attach-webview', (event) => event.preventDefault());
  wc.setWindowOpenHandler(({ url }) => windowOpenVerdict(url));
}

/** Serves dist/renderer on app:// and locks the default session down; call after `ready`. */
export function serveRenderer(rendererDir: string): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const r = resolveAppRequest(request.url, rendererDir);
    if ('status' in r) return new Response(null, { status: r.status, headers: responseHeaders('text/plain') });
    try {
      return new Response(await readFile(r.file), { status: 200, headers: responseHeaders(r.contentType) });
    } catch {
      return new Response(null, { status: 404, headers: responseHeaders('text/plain') });
    }
  });
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, permission, callback) => callback(permissionVerdict(permission)));
  ses.setPermissionCheckHandler((_wc, permission) => permissionVerdict(permission));
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
  });
}

/** The window, built from windowOptions and loading our own origin only. */
export function createWindow(inputs: WindowInputs): WindowHandle {
  const win = new BrowserWindow(windowOptions(inputs));
  win.once('ready-to-show', () => win.show());
  void win.loadURL(APP_ENTRY_URL);
  return {
    send(channel, payload) { if (!win.isDestroyed()) win.webContents.send(channel, payload); },
    focus() {
      if (win.isDestroyed()) return;
      if (win.isMinimized()) win.restore();
      win.show();
      win.focus();
    },
    onClosed(listener) { win.on('closed', listener); },
  };
}

/** The Electron menu template for a menu model; clicks report the item's action. */
export function menuTemplate(model: readonly MenuItemModel[], onAction: (action: MenuAction) => void): MenuItemConstructorOptions[] {
  return model.map((item): MenuItemConstructorOptions => {
    switch (item.kind) {
      case 'separator': return { type: 'separator' };
      case 'label': return { label: item.label, enabled: false };
      case 'action': return { label: item.label, enabled: item.enabled, click: () => onAction(item.action) };
      case 'checkbox': return { type: 'checkbox', label: item.label, checked: item.checked, enabled: item.enabled, click: () => onAction(item.action) };
    }
  });
}

/** The tray icon; `render` swaps image, tooltip and menu (Linux needs the menu set again after a change). */
export function createTray(iconDir: string, onAction: (action: MenuAction) => void): TrayPort {
  const image = (icon: TrayIcon) => nativeImage.createFromPath(path.join(iconDir, `tray-${icon}.png`));
  let current: TrayIcon = 'disconnected';
  const tray = new Tray(image(current));
  if (process.platform !== 'linux') tray.on('click', () => onAction('open-window'));
  return {
    render(view, menu) {
      if (view.icon !== current) { current = view.icon; tray.setImage(image(current)); }
      tray.setToolTip(view.tooltip);
      tray.setContextMenu(Menu.buildFromTemplate(menuTemplate(menu, onAction)));
    },
  };
}

/** Message boxes. */
export const dialogs: DialogPort = {
  async confirm(message, detail, ok) {
    const r = await dialog.showMessageBox({ type: 'question', buttons: [ok, 'Cancel'], defaultId: 0, cancelId: 1, message, detail, noLink: true });
    return r.response === 0;
  },
  async info(message, detail) { await dialog.showMessageBox({ type: 'info', buttons: ['OK'], message, detail }); },
  async error(message, detail) { await dialog.showMessageBox({ type: 'error', buttons: ['OK'], message, detail }); },
};

/** Start at login through Electron (Windows: the Run key with HIDDEN_ARG; macOS: a login item). */
export const electronLoginItems: LoginItems = {
  async get() { return app.getLoginItemSettings({ args: [HIDDEN_ARG] }).openAtLogin; },
  async set(enabled) { app.setLoginItemSettings({ openAtLogin: enabled, args: [HIDDEN_ARG] }); },
};

/** What the app knows about itself. */
export function runtimeFacts(): RuntimeFacts {
  return { platform: process.platform, isPackaged: app.isPackaged, appPath: app.getAppPath(), resourcesPath: process.resourcesPath, execPath: process.execPath };
}

/** The app's lifecycle as the composition needs it. */
export const lifecycle = {
  ipcMain: ipcMain as IpcMainLike,
  /** False when another instance runs (it is told to show its window); this one should quit. */
  claimSingleInstance(onSecondInstance: () => void): boolean {
    if (!app.requestSingleInstanceLock()) return false;
    app.on('second-instance', () => onSecondInstance());
    return true;
  },
  /** True when macOS started the app as a login item. */
  openedAtLogin(): boolean {
    return process.platform === 'darwin' && app.getLoginItemSettings().wasOpenedAtLogin;
  },
  whenReady(): Promise<void> { return app.whenReady(); },
  /** Every webContents gets the navigation policy; closing the window keeps the tray app running. */
  install(production: boolean): void {
    app.on('web-contents-created', (_event, wc) => hardenWebContents(wc));
    app.on('window-all-closed', () => { /* stay in the tray */ });
    if (production && process.platform !== 'darwin') Menu.setApplicationMenu(null);
  },
  onQuit(listener: () => void): void { app.on('will-quit', listener); },
  quit(): void { app.quit(); },
};
