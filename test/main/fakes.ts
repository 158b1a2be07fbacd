// Fakes for test/main: a ControlClient stand-in, an in-memory ipcMain/ipcRenderer pair, timers helpers.
import { ProtocolError, type EventData, type EventName, type MethodName, type MethodParams, type MethodResult } from '../../app/protocol/index.js';
import type { ClientState } from '../../app/control/client.js';
import type { ControlClientLike } from '../../main/service-connection.js';
import type { IpcInvokeEvent, IpcMainLike } from '../../main/ipc-bridge.js';
import type { IpcRendererLike } from '../../main/preload-api.js';

/** A ControlClient stand-in: answers from `answers`, records calls, and lets a test drive state and events. */
export class FakeClient implements ControlClientLike {
  readonly calls: { method: MethodName; params: unknown }[] = [];
  closed = false;
  readonly #listeners = new Map<string, Set<(d: never) => void>>();
  readonly #state = new Set<(s: ClientState, e?: ProtocolError) => void>();
  constructor(public answers: Partial<{ [M in MethodName]: (p: MethodParams<M>) => MethodResult<M> | Promise<MethodResult<M>> }> = {}) {}

  async call<M extends MethodName>(method: M, params: MethodParams<M>): Promise<MethodResult<M>> {
    this.calls.push({ method, params });
    const a = this.answers[method] as ((p: MethodParams<M>) => MethodResult<M>) | undefined;
    if (!a) throw new ProtocolError('UNKNOWN_METHOD', `fake has no ${method}`);
    return a(params);
  }
  on<E extends EventName>(event: E, listener: (data: EventData<E>) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as (d: never) => void);
    return () => { set.delete(listener as (d: never) => void); };
  }
  onState(listener: (s: ClientState, e?: ProtocolError) => void): () => void {
    this.#state.add(listener);
    return () => { this.#state.delete(listener); };
  }
  close(): void { this.closed = true; }
  /** Test side: pushes an event / a state change. */
  emit<E extends EventName>(event: E, data: EventData<E>): void { for (const l of this.#listeners.get(event) ?? []) (l as (d: unknown) => void)(data); }
  setState(s: ClientState, e?: ProtocolError): void { for (const l of this.#state) l(s, e); }
  listenerCount(event: string): number { return this.#listeners.get(event)?.size ?? 0; }
  methods(): string[] { return this.calls.map((c) => c.method); }
}

/** Settles pending promise callbacks (a few microtask turns). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** An in-memory ipcMain + ipcRenderer: invoke reaches the handler with a chosen sender URL; send reaches renderer listeners. */
export function fakeIpc(senderUrl = 'app://switchyard/index.html') {
  const handlers = new Map<string, (event: IpcInvokeEvent, ...args: unknown[]) => unknown>();
  const listeners = new Map<string, Set<(event: unknown, ...args: unknown[]) => void>>();
  const sent: { channel: string; payload: unknown }[] = [];
  const main: IpcMainLike = {
    handle(channel, h) { if (handlers.has(channel)) throw new Error(`second handler for ${channel}`); handlers.set(channel, h); },
    removeHandler(channel) { handlers.delete(channel); },
  };
  const renderer: IpcRendererLike = {
    async invoke(channel, ...args) {
      const h = handlers.get(channel);
      if (!h) throw new Error(`No handler registered for '${channel}'`);
      // structuredClone: what crosses Electron IPC is a copy, and an Error would lose its code.
      return structuredClone(await h({ senderFrame: { url: senderUrl } }, ...structuredClone(args)));
    },
    on(channel, l) { let s = listeners.get(channel); if (!s) listeners.set(channel, (s = new Set())); s.add(l); },
    removeListener(channel, l) { listeners.get(channel)?.delete(l); },
  };
  /** The window's webContents.send. */
  const target = {
    send(channel: string, payload: unknown) {
      sent.push({ channel, payload });
      for (const l of listeners.get(channel) ?? []) l({ sender: 'ipc-event' }, structuredClone(payload));
    },
  };
  return { main, renderer, target, handlers, listeners, sent };
}
