// The tray's look and its menu as pure functions of the connection snapshot and the service offer.
import { describe, expect, it } from 'vitest';
import { TOOLTIP_MAX, TRAY_ICONS, trayView } from '../../main/tray-state.js';
import { menuModel, type MenuItemModel, type MenuState } from '../../main/menu-model.js';
import type { ServiceSnapshot } from '../../main/service-connection.js';

const UNAVAILABLE = { code: 'UNAVAILABLE' as const, message: 'the Switchyard service is not running (no socket at /run/switchyard/control.sock)' };
const FORBIDDEN = { code: 'FORBIDDEN' as const, message: 'permission denied on /run/switchyard/control.sock' };
const INTERNAL = { code: 'INTERNAL' as const, message: 'routing could not be changed' };

describe('trayView', () => {
  it.each<[string, ServiceSnapshot, string, string]>([
    ['routing on', { connected: true, routing: true, error: null }, 'on', 'Switchyard: routing on'],
    ['routing off', { connected: true, routing: false, error: null }, 'off', 'Switchyard: routing off'],
    ['connected, routing not read yet', { connected: true, routing: null, error: null }, 'off', 'Switchyard: connected'],
    ['an error while connected wins over routing', { connected: true, routing: true, error: INTERNAL }, 'error', 'Switchyard: routing could not be changed'],
    ['disconnected without a reason', { connected: false, routing: null, error: null }, 'disconnected', 'Switchyard: not connected — the service is not running'],
    ['disconnected: service not running', { connected: false, routing: null, error: UNAVAILABLE }, 'disconnected', `Switchyard: not connected — ${UNAVAILABLE.message}`],
    ['disconnected: no access', { connected: false, routing: null, error: FORBIDDEN }, 'disconnected', 'Switchyard: not connected — no access to the service'],
    ['disconnected beats a stale routing value', { connected: false, routing: true, error: UNAVAILABLE }, 'disconnected', `Switchyard: not connected — ${UNAVAILABLE.message}`],
  ])('%s', (_, snapshot, icon, tooltip) => {
    expect(trayView(snapshot)).toEqual({ icon, tooltip });
    expect(TRAY_ICONS).toContain(icon);
  });

  it('keeps tooltips on one line and within the Windows limit of 127 characters', () => {
    const long = trayView({ connected: true, routing: true, error: { code: 'INTERNAL', message: 'x'.repeat(300) + '\nsecond line' } });
    expect(long.tooltip.length).toBe(TOOLTIP_MAX);
    expect(long.tooltip.endsWith('…')).toBe(true);
    expect(trayView({ connected: true, routing: true, error: { code: 'INTERNAL', message: 'a\nb' } }).tooltip).toBe('Switchyard: a b');
  });
});

const item = (items: MenuItemModel[], action: string) => items.find((i) => 'action' in i && i.action === action);
const state = (over: Omit<Partial<MenuState>, 'service'> & { service?: Partial<ServiceSnapshot> } = {}): MenuState => ({
  offer: null, startAtLogin: false, busy: false, ...over,
  service: { connected: true, routing: true, error: null, ...over.service },
});

describe('menuModel', () => {
  it('connected, routing on: a checked, enabled toggle and the fixed entries in order', () => {
    const m = menuModel(state());
    expect(m).toEqual([
      { kind: 'label', label: 'Routing is on' },
      { kind: 'checkbox', action: 'toggle-routing', label: 'Route traffic through Switchyard', checked: true, enabled: true },
      { kind: 'separator' },
      { kind: 'action', action: 'open-window', label: 'Open Switchyard', enabled: true },
      { kind: 'checkbox', action: 'toggle-start-at-login', label: 'Start at login', checked: false, enabled: true },
      { kind: 'separator' },
      { kind: 'action', action: 'quit', label: 'Quit Switchyard', enabled: true },
    ]);
  });

  it('routing off: the toggle is unchecked but enabled', () => {
    expect(item(menuModel(state({ service: { routing: false } })), 'toggle-routing')).toMatchObject({ checked: false, enabled: true });
  });

  it.each<[string, Partial<ServiceSnapshot>]>([
    ['disconnected', { connected: false, routing: null, error: UNAVAILABLE }],
    ['disconnected with a stale routing value', { connected: false, routing: true, error: UNAVAILABLE }],
    ['connected but routing unknown', { connected: true, routing: null }],
  ])('%s: the routing toggle is disabled and unchecked', (_, service) => {
    expect(item(menuModel(state({ service })), 'toggle-routing')).toMatchObject({ kind: 'checkbox', checked: false, enabled: false });
  });

  it('shows the install entry when the service is not installed, after the toggle, disabled while busy', () => {
    const offer = { action: 'install-service' as const, label: 'Install the Switchyard service…' };
    const m = menuModel(state({ service: { connected: false, routing: null, error: UNAVAILABLE }, offer }));
    expect(m[0]).toEqual({ kind: 'label', label: 'Switchyard service not connected' });
    expect(m[2]).toEqual({ kind: 'action', action: 'install-service', label: 'Install the Switchyard service…', enabled: true });
    expect(item(menuModel(state({ offer, busy: true })), 'install-service')).toMatchObject({ enabled: false });
  });

  it('offers start and grant entries as given, and none when there is no offer', () => {
    expect(item(menuModel(state({ offer: { action: 'start-service', label: 'Start the Switchyard service…' } })), 'start-service')).toBeDefined();
    expect(item(menuModel(state({ offer: { action: 'grant-access', label: 'Allow me…' } })), 'grant-access')).toBeDefined();
    const plain = menuModel(state());
    expect(['install-service', 'start-service', 'grant-access'].some((a) => item(plain, a))).toBe(false);
  });

  it('reflects "Start at login" and names FORBIDDEN and errors in the status line', () => {
    expect(item(menuModel(state({ startAtLogin: true })), 'toggle-start-at-login')).toMatchObject({ checked: true });
    expect(menuModel(state({ service: { connected: false, routing: null, error: FORBIDDEN } }))[0]).toEqual({ kind: 'label', label: 'No access to the Switchyard service' });
    expect(menuModel(state({ service: { error: INTERNAL } }))[0]).toEqual({ kind: 'label', label: 'Error: routing could not be changed' });
  });
});
