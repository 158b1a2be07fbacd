// app/protocol — the typed client facade, derived from METHODS: one function per method, named by
// camel-casing the method ('sessions.list' -> sessionsList), built by walking the table at run time
// and typed by mapping over it at compile time. No hand-kept second list of methods exists.
// Transport-free: the caller supplies `call` (a socket client, Electron IPC, a test fake).
import { METHODS, METHOD_NAMES, type MethodName, type MethodParams, type MethodResult } from './methods.js';

/** 'sessions.list' -> 'sessionsList' at the type level. */
export type FacadeName<S extends string> = S extends `${infer A}.${infer B}` ? `${A}${Capitalize<FacadeName<B>>}` : S;

/** Sends one request and resolves with its (validated) result; rejects with a ProtocolError. */
export type Caller = <M extends MethodName>(method: M, params: MethodParams<M>) => Promise<MethodResult<M>>;

/** One typed function per method; params may be omitted when every field is optional. */
export type Client = {
  [M in MethodName as FacadeName<M>]: {} extends MethodParams<M>
    ? (params?: MethodParams<M>) => Promise<MethodResult<M>>
    : (params: MethodParams<M>) => Promise<MethodResult<M>>;
};

/** The facade name of a method ('routing.set' -> 'routingSet'). */
export function facadeName<M extends MethodName>(method: M): FacadeName<M> {
  return method.replace(/\.([a-z])/g, (_, c: string) => c.toUpperCase()) as FacadeName<M>;
}

/** Builds the typed facade over `call`. */
export function createClient(call: Caller): Client {
  const client: Record<string, (params?: unknown) => Promise<unknown>> = {};
  for (const m of METHOD_NAMES) {
    client[facadeName(m)] = (params?: unknown) => call(m, (params ?? {}) as MethodParams<typeof m>);
  }
  return Object.freeze(client) as unknown as Client;
}

/** The method's result schema, for clients that validate what they receive. */
export function resultSchema<M extends MethodName>(method: M): (typeof METHODS)[M]['result'] {
  return METHODS[method].result;
}
