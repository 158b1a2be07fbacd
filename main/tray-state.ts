// main — what the tray shows, as a pure function of the connection snapshot:
//
//   connected  error  routing │ icon           tooltip
//   ──────────────────────────┼──────────────────────────────────────────────────────
//   no         any    any     │ disconnected   "Switchyard: not connected — <why>"
//   yes        yes    any     │ error          "Switchyard: <error message>"
//   yes        no     true    │ on             "Switchyard: routing on"
//   yes        no     false   │ off            "Switchyard: routing off"
//   yes        no     null    │ off            "Switchyard: connected" (status not read yet)
import type { ServiceSnapshot } from './service-connection.js';

/** The tray icons, one image each (build/icons/tray/tray-<name>.png). */
export const TRAY_ICONS = ['on', 'off', 'error', 'disconnected'] as const;
/** A tray icon name. */
export type TrayIcon = (typeof TRAY_ICONS)[number];

/** What the tray shows. */
export interface TrayView { icon: TrayIcon; tooltip: string }

/** Windows cuts tray tooltips at 127 characters (NOTIFYICONDATA.szTip); we cut first, visibly. */
export const TOOLTIP_MAX = 127;

function clip(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= TOOLTIP_MAX ? oneLine : oneLine.slice(0, TOOLTIP_MAX - 1) + '…';
}

/** The tray's icon and tooltip for a snapshot. */
export function trayView(s: Pick<ServiceSnapshot, 'connected' | 'routing' | 'error'>): TrayView {
  if (!s.connected) {
    const why = s.error?.code === 'FORBIDDEN' ? 'no access to the service' : s.error ? s.error.message : 'the service is not running';
    return { icon: 'disconnected', tooltip: clip(`Switchyard: not connected — ${why}`) };
  }
  if (s.error) return { icon: 'error', tooltip: clip(`Switchyard: ${s.error.message}`) };
  if (s.routing === true) return { icon: 'on', tooltip: 'Switchyard: routing on' };
  if (s.routing === false) return { icon: 'off', tooltip: 'Switchyard: routing off' };
  return { icon: 'off', tooltip: 'Switchyard: connected' };
}
