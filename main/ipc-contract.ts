// main — THE declaration of the Electron IPC between main and the window's preload. Channel names
// are derived from IPC below, never typed by hand elsewhere. Run-time dependency free (type imports
// only): the sandboxed preload bundles this file and may require nothing but `electron`.
//
//   renderer                          preload (sandboxed)                 main (IpcBridge)
//   window.switchyard.call(m, p) ───▶ invoke(CHANNELS.call, m, p) ──────▶ sender is app://switchyard?
//                                                                         m in METHODS? p valid?
//        result / rejects ErrorBody ◀─ unwraps IpcReply ◀──────────────── ControlClient ─▶ service
//   switchyard.on('tick', cb)     ◀── CHANNELS.event {event, data} ◀──── ticks, only while a window is open
//   switchyard.onState(cb)        ◀── CHANNELS.state BridgeState ◀────── connected / disconnected (+ why)
//
// Everything crossing is plain data (structured clone): errors as { code, message, details? }, never
// an Error whose code the copy would lose.
import type { ErrorBody, ErrorCode, EventData, EventName, MethodName, MethodParams, MethodResult } from '../app/protocol/index.js';

/** Every IPC message between main and the preload: `invoke` is renderer → main with an answer, `push` is main → renderer. */
export const IPC = {
  call: { direction: 'invoke', summary: 'one control API request, checked and forwarded to the service' },
  state: { direction: 'invoke', summary: 'the connection state now (for a renderer that just loaded)' },
  stateChanged: { direction: 'push', summary: 'the connection state after each change' },
  event: { direction: 'push', summary: 'a service event {event, data}: ticks while a window is open' },
} as const;

/** A message name of IPC. */
export type IpcName = keyof typeof IPC;

/** Prefix of every channel, so ours never collide with Electron's or a library's. */
export const CHANNEL_PREFIX = 'switchyard:';

/** The channel of each message, e.g. CHANNELS.call === 'switchyard:call'. */
export const CHANNELS = Object.freeze(
  Object.fromEntries(Object.keys(IPC).map((name) => [name, CHANNEL_PREFIX + name])),
) as { readonly [N in IpcName]: `switchyard:${N}` };

/** What main answers on CHANNELS.call: the result, or the coded error as plain data. */
export type IpcReply<M extends MethodName = MethodName> =
  | { ok: true; result: MethodResult<M> }
  | { ok: false; error: ErrorBody };

/** The connection to the service as the renderer sees it; `error` says why it is down (UNAVAILABLE, FORBIDDEN, …). */
export interface BridgeState {
  state: 'connected' | 'disconnected';
  error?: { code: ErrorCode; message: string };
}

/** A service event as pushed on CHANNELS.event (the control protocol's own event envelope). */
export interface BridgeEvent<E extends EventName = EventName> { event: E; data: EventData<E> }

/** The one object the preload exposes as `window.switchyard`. */
export interface SwitchyardBridge {
  /** One control API request; rejects with plain `{ code, message, details? }` (a ProtocolError's wire form). */
  call<M extends MethodName>(method: M, params: MethodParams<M>): Promise<MethodResult<M>>;
  /** Calls `listener` with each event of that name (ticks arrive while the window is open); returns the unsubscribe. */
  on<E extends EventName>(event: E, listener: (data: EventData<E>) => void): () => void;
  /** Calls `listener` on each connection change; after a reconnect, refetch (deltas were missed). Returns the unsubscribe. */
  onState(listener: (state: BridgeState) => void): () => void;
  /** The connection state now. */
  state(): Promise<BridgeState>;
}

/** The global the preload defines; renderer code declares `window.switchyard: SwitchyardBridge` from this. */
export const BRIDGE_GLOBAL = 'switchyard';
