// main — the tray menu as data, a pure function of the state; electron-edge.ts turns it into an
// Electron Menu and reports clicks as MenuAction ids. Order:
//   <status line>                      (disabled label)
//   [x] Route traffic through Switchyard   (disabled while disconnected or routing unknown)
//   Install / Start the service…           (only when the service needs it: ServiceOffer)
//   ───
//   Open Switchyard
//   [x] Start at login
//   ───
//   Quit Switchyard
import type { ServiceSnapshot } from './service-connection.js';
import type { ServiceOffer } from './service-installer.js';

/** What a menu click asks for. */
export type MenuAction = 'toggle-routing' | 'open-window' | 'toggle-start-at-login' | 'quit' | ServiceOffer['action'];

/** One menu entry. */
export type MenuItemModel =
  | { kind: 'label'; label: string }
  | { kind: 'action'; action: MenuAction; label: string; enabled: boolean }
  | { kind: 'checkbox'; action: MenuAction; label: string; checked: boolean; enabled: boolean }
  | { kind: 'separator' };

/** Everything the menu depends on. */
export interface MenuState {
  service: Pick<ServiceSnapshot, 'connected' | 'routing' | 'error'>;
  /** Install/start/grant entry when the service is missing, stopped or refuses us; null otherwise. */
  offer: ServiceOffer | null;
  startAtLogin: boolean;
  /** An install or start is running: its entry is disabled. */
  busy: boolean;
}

function statusLine(s: MenuState['service']): string {
  if (!s.connected) return s.error?.code === 'FORBIDDEN' ? 'No access to the Switchyard service' : 'Switchyard service not connected';
  if (s.error) return `Error: ${s.error.message.length > 60 ? s.error.message.slice(0, 59) + '…' : s.error.message}`;
  return s.routing === true ? 'Routing is on' : s.routing === false ? 'Routing is off' : 'Connected';
}

/** The tray menu for a state. */
export function menuModel(state: MenuState): MenuItemModel[] {
  const { service } = state;
  const items: MenuItemModel[] = [
    { kind: 'label', label: statusLine(service) },
    {
      kind: 'checkbox', action: 'toggle-routing', label: 'Route traffic through Switchyard',
      checked: service.connected && service.routing === true,
      enabled: service.connected && service.routing !== null,
    },
  ];
  if (state.offer) items.push({ kind: 'action', action: state.offer.action, label: state.offer.label, enabled: !state.busy });
  items.push(
    { kind: 'separator' },
    { kind: 'action', action: 'open-window', label: 'Open Switchyard', enabled: true },
    { kind: 'checkbox', action: 'toggle-start-at-login', label: 'Start at login', checked: state.startAtLogin, enabled: true },
    { kind: 'separator' },
    { kind: 'action', action: 'quit', label: 'Quit Switchyard', enabled: true },
  );
  return items;
}
