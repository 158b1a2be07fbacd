// main — the object the preload exposes as `window.switchyard`, built over an ipcRenderer-like
// transport so it is testable without Electron. Runs in the sandboxed preload: imports only
// ipc-contract (bundled with it). It never hands the renderer an IpcRendererEvent or ipcRenderer
// itself; listeners get plain data only. Method names are checked again in main.
import { CHANNELS, type BridgeEvent, type BridgeState, type IpcReply, type SwitchyardBridge } from './ipc-contract.js';

/** The part of Electron's ipcRenderer the bridge uses. */
export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

const NOT_A_REPLY = { code: 'INTERNAL', message: 'the desktop app answered with something that is not a reply' } as const;

/** Builds the `window.switchyard` object over `ipc`. */
export function createBridge(ipc: IpcRendererLike): SwitchyardBridge {
  const listen = <T>(channel: string, deliver: (payload: T) => void): (() => void) => {
    const listener = (_event: unknown, payload: unknown): void => deliver(payload as T);
    ipc.on(channel, listener);
    return () => { ipc.removeListener(channel, listener); };
  };
  const bridge: SwitchyardBridge = {
    async call(method, params) {
      const reply = await ipc.invoke(CHANNELS.call, method, params) as IpcReply | undefined;
      if (!reply || typeof reply !== 'object' || !('ok' in reply)) throw { ...NOT_A_REPLY };
      if (reply.ok) return reply.result as never;
      throw reply.error; // plain data: a contextBridge copy keeps every field, unlike an Error's
    },
    on(event, listener) {
      if (typeof event !== 'string' || typeof listener !== 'function') throw new TypeError('on(event, listener)');
      return listen<BridgeEvent>(CHANNELS.event, (m) => { if (m && m.event === event) listener(m.data as never); });
    },
    onState(listener) {
      if (typeof listener !== 'function') throw new TypeError('onState(listener)');
      return listen<BridgeState>(CHANNELS.stateChanged, listener);
    },
    async state() {
      const s = await ipc.invoke(CHANNELS.state) as BridgeState | IpcReply;
      if ('ok' in s) throw s.ok ? { ...NOT_A_REPLY } : s.error; // main refused this frame
      return s;
    },
  };
  return Object.freeze(bridge);
}
