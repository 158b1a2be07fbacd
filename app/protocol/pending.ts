// app/protocol — a client's requests waiting for their replies, and what to do with each message the
// service sends. Shared by the two transports: the Node client (app/control/client.ts, NDJSON on a
// Unix socket or pipe) and the browser client (app/ui/ws-client.ts, WebSocket). Plain TypeScript, no
// Node or DOM APIs.
import { ProtocolError } from './errors.js';
import { ServerMessageSchema } from './envelope.js';
import { METHODS, type EventName, type MethodName, type MethodParams, type MethodResult } from './methods.js';

interface Pending { method: MethodName; resolve(v: unknown): void; reject(e: Error): void; timer: ReturnType<typeof setTimeout> }

export class PendingRequests {
  readonly #map = new Map<number, Pending>();
  #nextId = 1;

  /**
   * validateResults: check every result against the method's schema (default true); unrefTimers:
   * a request's timeout does not keep a Node process alive (the Node client's choice).
   */
  constructor(readonly validateResults = true, readonly unrefTimers = false) {}

  /**
   * Starts one request: `send` gets its id and sends it (a throw fails the request with
   * UNAVAILABLE); the promise settles with the reply, or with UNAVAILABLE after `timeoutMs`.
   */
  start<M extends MethodName>(method: M, params: MethodParams<M>, timeoutMs: number, send: (line: string) => void): Promise<MethodResult<M>> {
    const id = this.#nextId++;
    return new Promise<MethodResult<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#map.delete(id);
        reject(new ProtocolError('UNAVAILABLE', `the service did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      if (this.unrefTimers) (timer as { unref?: () => void }).unref?.();
      this.#map.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
      try {
        send(JSON.stringify({ id, method, params }));
      } catch (e) {
        clearTimeout(timer);
        this.#map.delete(id);
        reject(new ProtocolError('UNAVAILABLE', `cannot send ${method}: ${(e as Error).message}`));
      }
    });
  }

  /**
   * One message text from the service: an event goes to `onEvent`, a reply settles its request, and
   * a connection-level error (id null: FORBIDDEN, TOO_LARGE, OVERLOADED, …) is returned — the close
   * that follows fails everything with it. Broken or unknown messages are ignored.
   */
  receive(text: string, onEvent: (event: EventName, data: unknown) => void): ProtocolError | null {
    let msg: unknown;
    try { msg = JSON.parse(text); } catch { return null; } // nothing to correlate
    const parsed = ServerMessageSchema.safeParse(msg);
    if (!parsed.success) return null;
    const m = parsed.data;
    if ('event' in m) { onEvent(m.event as EventName, m.data); return null; }
    if (m.id === null) return 'error' in m ? ProtocolError.from(m.error) : null;
    const p = typeof m.id === 'number' ? this.#map.get(m.id) : undefined;
    if (!p || typeof m.id !== 'number') return null;
    this.#map.delete(m.id);
    clearTimeout(p.timer);
    if ('error' in m) { p.reject(ProtocolError.from(m.error)); return null; }
    if (!this.validateResults) { p.resolve(m.result); return null; }
    const r = METHODS[p.method].result.safeParse(m.result);
    if (r.success) p.resolve(r.data);
    else p.reject(new ProtocolError('INTERNAL', `the service sent an invalid ${p.method} result (a different protocol version?)`, { issues: r.error.issues.slice(0, 5) }));
    return null;
  }

  /** Fails every request still waiting (the connection is gone). */
  failAll(error: Error): void {
    for (const p of this.#map.values()) { clearTimeout(p.timer); p.reject(error); }
    this.#map.clear();
  }
}
