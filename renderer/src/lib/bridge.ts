// renderer — the one narrow interface between the UI and whatever carries the control protocol.
// Each host is adapted to it in hosts.ts; nothing else in the renderer knows which host it runs in:
//
//   Electron:  window.switchyard (main/preload-api.ts) ──desktopBridge──▶ HostBridge
//   browser:   WsClient (app/ui/ws-client.ts) over ws(s)://<host>/api ──browserBridge──▶ HostBridge
//   tests, perf page:  a fake that answers in the page
//
// `call` resolves with the method's result or rejects (any shape: errors.ts turns it into a
// ProtocolError). `onState` reports the link to the service; it need not replay the current state
// to a new listener, so the core also just tries a request at start.

/** The link to the service, as the host sees it. */
export type LinkState = 'connected' | 'disconnected';

/** Why the link is down, as plain data (a ProtocolError's code and message). */
export interface LinkError { code: string; message: string }

/** What a host provides to the core: requests, the `tick` event, and link state changes. */
export interface HostBridge {
  call(method: string, params: unknown): Promise<unknown>;
  on(event: 'tick', cb: (data: unknown) => void): () => void;
  onState(cb: (state: LinkState, error?: LinkError) => void): () => void;
  /** Optional: try to reconnect now instead of waiting for the host's next attempt. */
  reconnect?(): void;
  /** True when the host owns the tick subscription (the desktop app): its interval cannot be changed here. */
  readonly fixedTickInterval?: boolean;
}

/** Which host the renderer runs in: the desktop app (Electron preload) or a browser (web UI). */
export type HostKind = 'desktop' | 'browser';
