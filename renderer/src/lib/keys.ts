// renderer — the aggregate keys of sessions, apps and devices, so that a live session can be found
// under its app or device (and tick rate rows under theirs). Keys are the service's
// (app/stats/aggregator.ts): an app is keyed by executable path, else process name, else 'unknown';
// a device by MAC (lower case), else address; this computer is 'local'. The session on the wire does
// not carry these keys, so they are derived here from the same fields, by the same rules.
import { LOCAL_DEVICE_KEY, UNKNOWN_APP_KEY } from '../../../app/stats/aggregator.js';
import type { AppRef, DeviceRef, DeviceSummary } from '../../../app/protocol/schema.js';

/** The app key of a session's app. */
export function appKeyOf(app: AppRef): string {
  if (app.kind === 'unknown') return UNKNOWN_APP_KEY;
  return app.exe !== '' ? app.exe : app.name !== '' ? app.name : UNKNOWN_APP_KEY;
}

/** The device key of a session's device or of a device summary (whose address is "this computer" when local). */
export function deviceKeyOf(d: DeviceRef | DeviceSummary): string {
  if (d.local) return LOCAL_DEVICE_KEY;
  return d.mac ? d.mac.toLowerCase() : d.address;
}
