// The tray app's behaviour with every port faked: what the tray shows as the service comes and goes,
// what the menu offers after asking the OS, and what each click does. Also the one window.
import { describe, expect, it, vi } from 'vitest';
import type { LoginItems } from '../../main/autostart.js';
import { DesktopController, type DialogPort, type TrayPort } from '../../main/desktop-controller.js';
import { MainWindow, type WindowHandle } from '../../main/main-window.js';
import type { MenuItemModel } from '../../main/menu-model.js';
import type { ServiceSnapshot } from '../../main/service-connection.js';
import type { InstallOutcome, ServiceInstaller, ServiceProbe } from '../../main/service-installer.js';
import type { TrayView } from '../../main/tray-state.js';
import { flush } from './fakes.js';

function fakeService(initial: ServiceSnapshot) {
  const listeners = new Set<(s: ServiceSnapshot) => void>();
  const svc = {
    snapshot: initial,
    setRouting: vi.fn(async (enabled: boolean) => { svc.set({ routing: enabled }); }),
    retryNow: vi.fn(),
    onChange(l: (s: ServiceSnapshot) => void) { listeners.add(l); return () => listeners.delete(l); },
    set(change: Partial<ServiceSnapshot>) { svc.snapshot = { ...svc.snapshot, ...change }; for (const l of listeners) l(svc.snapshot); },
  };
  return svc;
}

function setup(opts: { snapshot?: ServiceSnapshot; probe?: ServiceProbe; outcome?: InstallOutcome; confirm?: boolean; installer?: boolean } = {}) {
  const service = fakeService(opts.snapshot ?? { connected: false, routing: null, error: { code: 'UNAVAILABLE', message: 'the service is not running' } });
  const renders: { view: TrayView; menu: MenuItemModel[] }[] = [];
  const tray: TrayPort = { render: (view, menu) => renders.push({ view, menu }) };
  let loginOn = false;
  const loginItems: LoginItems = { get: vi.fn(async () => loginOn), set: vi.fn(async (v: boolean) => { loginOn = v; }) };
  const dialogs: DialogPort = { confirm: vi.fn(async () => opts.confirm ?? true), info: vi.fn(async () => {}), error: vi.fn(async () => {}) };
  const installer: ServiceInstaller = {
    platform: 'linux', canGrantAccess: true,
    probe: vi.fn(async () => opts.probe ?? { installed: false, running: false }),
    install: vi.fn(async (): Promise<InstallOutcome> => opts.outcome ?? { ok: true, message: 'installed', relogin: true }),
    start: vi.fn(async (): Promise<InstallOutcome> => opts.outcome ?? { ok: true, message: 'started', relogin: false }),
    grantAccess: vi.fn(async (): Promise<InstallOutcome> => opts.outcome ?? { ok: true, message: 'granted', relogin: true }),
  };
  const window = { show: vi.fn() };
  const quit = vi.fn();
  const controller = new DesktopController({ service, installer: opts.installer === false ? null : installer, loginItems, tray, dialogs, window, quit });
  const last = () => renders.at(-1)!;
  const actions = () => last().menu.flatMap((i) => 'action' in i ? [i.action] : []);
  return { controller, service, renders, last, actions, installer, dialogs, loginItems, window, quit };
}

describe('DesktopController', () => {
  it('service missing: disconnected icon, asks the OS, then offers to install', async () => {
    const t = setup();
    await t.controller.start();
    await flush();
    expect(t.last().view.icon).toBe('disconnected');
    expect(t.installer.probe).toHaveBeenCalled();
    expect(t.controller.condition).toBe('not-installed');
    expect(t.actions()).toContain('install-service');
    t.controller.stop();
  });

  it('installed but stopped: offers to start it; running but not answering: offers nothing', async () => {
    const stopped = setup({ probe: { installed: true, running: false } });
    await stopped.controller.start(); await flush();
    expect(stopped.actions()).toContain('start-service');
    stopped.controller.stop();
    const starting = setup({ probe: { installed: true, running: true } });
    await starting.controller.start(); await flush();
    expect(starting.actions().filter((a) => a.endsWith('-service'))).toEqual([]);
    starting.controller.stop();
  });

  it('install: confirm, run, report, reconnect now; the entry is disabled while it runs', async () => {
    const t = setup();
    await t.controller.start(); await flush();
    let resolveInstall!: (o: InstallOutcome) => void;
    vi.mocked(t.installer.install).mockImplementation(() => new Promise((r) => { resolveInstall = r; }));
    const done = t.controller.act('install-service');
    await flush();
    expect(t.dialogs.confirm).toHaveBeenCalled();
    expect(t.last().menu.find((i) => 'action' in i && i.action === 'install-service')).toMatchObject({ enabled: false });
    resolveInstall({ ok: true, message: 'The Switchyard service is installed and running.', relogin: true });
    await done;
    expect(t.service.retryNow).toHaveBeenCalled();
    expect(t.dialogs.info).toHaveBeenCalledWith('Switchyard service', 'The Switchyard service is installed and running.');
    t.controller.stop();
  });

  it('install declined or cancelled: nothing runs or nothing is reported', async () => {
    const declined = setup({ confirm: false });
    await declined.controller.start();
    await declined.controller.act('install-service');
    expect(declined.installer.install).not.toHaveBeenCalled();
    declined.controller.stop();
    const cancelled = setup({ outcome: { ok: false, cancelled: true, message: 'cancelled' } });
    await cancelled.controller.start();
    await cancelled.controller.act('install-service');
    expect(cancelled.dialogs.error).not.toHaveBeenCalled();
    const failed = setup({ outcome: { ok: false, cancelled: false, message: 'helper failed' } });
    await failed.controller.start();
    await failed.controller.act('start-service');
    expect(failed.dialogs.error).toHaveBeenCalledWith('The Switchyard service could not be set up', 'helper failed');
    cancelled.controller.stop(); failed.controller.stop();
  });

  it('connected: the icon follows routing, the toggle flips it, no install entry', async () => {
    const t = setup({ snapshot: { connected: true, routing: true, error: null } });
    await t.controller.start();
    expect(t.last().view).toEqual({ icon: 'on', tooltip: 'Switchyard: routing on' });
    expect(t.actions().some((a) => a.endsWith('-service'))).toBe(false);
    await t.controller.act('toggle-routing');
    expect(t.service.setRouting).toHaveBeenCalledWith(false);
    expect(t.last().view.icon).toBe('off');
    t.service.set({ error: { code: 'INTERNAL', message: 'routing could not be changed' } });
    expect(t.last().view.icon).toBe('error');
    t.controller.stop();
  });

  it('toggle does nothing while disconnected', async () => {
    const t = setup();
    await t.controller.start();
    await t.controller.act('toggle-routing');
    expect(t.service.setRouting).not.toHaveBeenCalled();
    t.controller.stop();
  });

  it('FORBIDDEN: offers to grant access (Linux/macOS)', async () => {
    const t = setup({ snapshot: { connected: false, routing: null, error: { code: 'FORBIDDEN', message: 'permission denied' } } });
    await t.controller.start(); await flush();
    expect(t.actions()).toContain('grant-access');
    await t.controller.act('grant-access');
    expect(t.installer.grantAccess).toHaveBeenCalled();
    t.controller.stop();
  });

  it('start at login, open, quit', async () => {
    const t = setup({ snapshot: { connected: true, routing: false, error: null } });
    await t.controller.start();
    await t.controller.act('toggle-start-at-login');
    expect(t.loginItems.set).toHaveBeenCalledWith(true);
    expect(t.last().menu.find((i) => 'action' in i && i.action === 'toggle-start-at-login')).toMatchObject({ checked: true });
    await t.controller.act('open-window');
    expect(t.window.show).toHaveBeenCalled();
    await t.controller.act('quit');
    expect(t.quit).toHaveBeenCalled();
  });

  it('offers nothing on a platform without an installer', async () => {
    const t = setup({ installer: false });
    await t.controller.start();
    expect(t.actions().some((a) => a.endsWith('-service'))).toBe(false);
    t.controller.stop();
  });
});

describe('MainWindow', () => {
  it('creates one window, focuses it on a second show, attaches the feed while it lives', () => {
    const created: (WindowHandle & { close(): void })[] = [];
    const feed = { attach: vi.fn(), detach: vi.fn() };
    const w = new MainWindow(() => {
      let onClosed = () => {};
      const h = { send: vi.fn(), focus: vi.fn(), onClosed: (l: () => void) => { onClosed = l; }, close: () => onClosed() };
      created.push(h);
      return h;
    }, feed);
    w.show();
    w.show();
    expect(created).toHaveLength(1);
    expect(created[0]!.focus).toHaveBeenCalledOnce();
    expect(feed.attach).toHaveBeenCalledWith(created[0]);
    created[0]!.close();
    expect(feed.detach).toHaveBeenCalledOnce();
    expect(w.isOpen).toBe(false);
    w.show();
    expect(created).toHaveLength(2);
  });
});
