// renderer — the two hosts, adapted to HostBridge (bridge.ts). main.ts picks one; the core and the
// views never learn which.
//
//   desktop: window.switchyard, the Electron preload (main/ipc-contract.ts SwitchyardBridge). Main owns
//            the service connection and its tick subscription (it refuses `subscribe` from a window:
//            ticks flow while the window is open), so `subscribe` is answered here with main's
//            interval; link changes arrive as one BridgeState object.
//   browser: app/ui/ws-client.ts's WsClient over ws(s)://<page host>/api, with the token from the
//            page URL (token.ts). WsClient says hello and re-subscribes on each reconnect itself and
//            fails calls made before it is connected, so a call made while it connects waits for it.
import type { SwitchyardBridge as PreloadBridge } from '../../../main/ipc-contract.js';
import { ProtocolError } from '../../../app/protocol/errors.js';
import { TICK_INTERVAL_DEFAULT_MS, type MethodName } from '../../../app/protocol/methods.js';
import type { WsClient } from '../../../app/ui/ws-client.js';
import type { HostBridge, LinkState, LinkError } from './bridge.js';

declare global {
  interface Window {
    /** Set by the Electron preload; absent in a browser. */
    switchyard?: PreloadBridge;
  }
}

/** The desktop app's preload bridge as a HostBridge. */
export function desktopBridge(preload: PreloadBridge): HostBridge {
  return {
    fixedTickInterval: true,
    call(method, params) {
      // Main subscribes for the window (default interval) and refuses these from it.
      if (method === 'subscribe') return Promise.resolve({ topics: ['tick'], intervalMs: TICK_INTERVAL_DEFAULT_MS });
      if (method === 'unsubscribe') return Promise.resolve({ topics: [] });
      return preload.call(method as MethodName, params as never);
    },
    on: (event, cb) => preload.on(event, cb),
    onState: (cb) => preload.onState((s) => cb(s.state, s.error)),
  };
}

/** The part of WsClient the browser host uses (tests pass a real WsClient over a fake WebSocket). */
export type WsClientLike = Pick<WsClient, 'call' | 'on' | 'onState' | 'state' | 'whenConnected'>;

/** A WsClient as a HostBridge. */
export function browserBridge(client: WsClientLike): HostBridge {
  return {
    async call(method, params) {
      if (client.state === 'connecting') await client.whenConnected({ firstAttemptOnly: true });
      return client.call(method as MethodName, params as never);
    },
    on: (event, cb) => client.on(event, cb),
    onState: (cb) => client.onState((state, error) => {
      if (state === 'connecting') return;
      const link: LinkState = state === 'connected' ? 'connected' : 'disconnected';
      const why: LinkError | undefined = error ? { code: error.code, message: error.message } : undefined;
      cb(link, why);
    }),
  };
}

/** The browser host without a token: nothing can connect, and every answer says how to get one. */
export function tokenlessBridge(): HostBridge {
  const refused = () => Promise.reject(new ProtocolError('FORBIDDEN', 'this page has no access token: open the link the service printed (it ends with #token=…)'));
  return { call: refused, on: () => () => {}, onState: () => () => {} };
}
