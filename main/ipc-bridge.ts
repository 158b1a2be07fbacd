// main — the main-process end of the window's IPC (see ipc-contract.ts for the picture). Every
// `call` from the renderer is untrusted: the sender must be our own app:// page, the method one the
// protocol declares (own keys of METHODS only), the params valid for it; only then is it forwarded
// through the one ServiceConnection. Answers and errors go back as plain data (IpcReply).
// Ticks flow to the window only while it is attached (the service subscription follows).
import { METHODS, ProtocolError, isMethodName, type ErrorBody, type MethodName, type MethodParams } from '../app/protocol/index.js';
import { CHANNELS, type BridgeEvent, type BridgeState, type IpcReply } from './ipc-contract.js';
import { bridgeState, type ServiceConnection, type ServiceSnapshot } from './service-connection.js';

/** The part of an ipcMain `handle` event the bridge reads: the frame that sent it. */
export interface IpcInvokeEvent { senderFrame: { url: string } | null }

/** The part of Electron's ipcMain the bridge uses. */
export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcInvokeEvent, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

/** Where pushes go: the window's webContents. */
export interface PushTarget { send(channel: string, payload: unknown): void }

/** The part of ServiceConnection the bridge uses. */
export type BridgeService = Pick<ServiceConnection, 'call' | 'snapshot' | 'onChange' | 'onEvent' | 'setTicksWanted'>;

/** Methods the renderer may not call: main owns the connection's tick subscription. */
export const MAIN_OWNED_METHODS: readonly MethodName[] = ['subscribe', 'unsubscribe'];

function fail(code: ErrorBody['code'], message: string, details?: unknown): IpcReply {
  return { ok: false, error: details === undefined ? { code, message } : { code, message, details } };
}

/** Checks one renderer request and forwards it; never throws (errors are replies). */
export async function handleCall(service: Pick<BridgeService, 'call'>, method: unknown, params: unknown): Promise<IpcReply> {
  if (typeof method !== 'string' || !isMethodName(method)) {
    return fail('UNKNOWN_METHOD', `no method ${JSON.stringify(String(method)).slice(0, 140)}`);
  }
  if (MAIN_OWNED_METHODS.includes(method)) {
    return fail('BAD_REQUEST', `${method} is managed by the desktop app: use switchyard.on('tick', …)`);
  }
  const parsed = METHODS[method].params.safeParse(params ?? {});
  if (!parsed.success) {
    return fail('INVALID_PARAMS', `invalid params for ${method}`, { issues: parsed.error.issues.slice(0, 5).map((i) => ({ path: i.path.map(String), message: i.message })) });
  }
  try {
    const result = await service.call(method, (params ?? {}) as MethodParams<typeof method>);
    return { ok: true, result };
  } catch (e) {
    if (e instanceof ProtocolError) return { ok: false, error: e.toJSON() };
    return fail('INTERNAL', e instanceof Error ? e.message : String(e));
  }
}

/** Options of IpcBridge. */
export interface IpcBridgeOptions {
  ipc: IpcMainLike;
  service: BridgeService;
  /** True for a frame URL of our own app (window-policy.ts isAppUrl). */
  isTrustedSender(frameUrl: string): boolean;
}

/** Registers the invoke handlers and pushes state and ticks to the attached window. */
export class IpcBridge {
  readonly #opts: IpcBridgeOptions;
  #target: PushTarget | null = null;
  #offs: (() => void)[] = [];

  constructor(opts: IpcBridgeOptions) { this.#opts = opts; }

  /** Registers the handlers on ipcMain (once). */
  register(): void {
    const { ipc, service } = this.#opts;
    const denied: IpcReply = { ok: false, error: { code: 'FORBIDDEN', message: 'this frame may not use the Switchyard bridge' } };
    ipc.handle(CHANNELS.call, (event, method, params) => this.#trusted(event) ? handleCall(service, method, params) : denied);
    ipc.handle(CHANNELS.state, (event) => this.#trusted(event) ? bridgeState(service.snapshot) : denied);
  }

  /** Removes the handlers and detaches the window. */
  unregister(): void {
    this.detach();
    this.#opts.ipc.removeHandler(CHANNELS.call);
    this.#opts.ipc.removeHandler(CHANNELS.state);
  }

  /** Starts pushing to `target` (a window opened): connection state always, ticks from now on. */
  attach(target: PushTarget): void {
    this.detach();
    this.#target = target;
    const { service } = this.#opts;
    let last: BridgeState = bridgeState(service.snapshot);
    this.#offs.push(
      service.onChange((s: ServiceSnapshot) => {
        const next = bridgeState(s);
        if (next.state === last.state && next.error?.code === last.error?.code && next.error?.message === last.error?.message) return;
        last = next;
        target.send(CHANNELS.stateChanged, next);
      }),
      service.onEvent((e: BridgeEvent) => target.send(CHANNELS.event, e)),
    );
    service.setTicksWanted(true);
  }

  /** Stops pushing (the window closed); the service subscription ends. */
  detach(): void {
    if (!this.#target) return;
    for (const off of this.#offs) off();
    this.#offs = [];
    this.#target = null;
    this.#opts.service.setTicksWanted(false);
  }

  #trusted(event: IpcInvokeEvent): boolean {
    const url = event.senderFrame?.url;
    return typeof url === 'string' && this.#opts.isTrustedSender(url);
  }
}
