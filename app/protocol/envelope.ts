// app/protocol — the message envelope, independent of framing (the control server frames it as
// newline-delimited JSON; Electron IPC and WebSocket carry the same objects):
//   request   { id, method, params? }        id: a string (≤128 chars) or an integer, chosen by the client
//   response  { id, result } | { id, error } id: the request's, or null when the request had none
//   event     { event, data }                 pushed to subscribers, never an answer
import { z } from 'zod';
import { ErrorBodySchema } from './errors.js';

/** A request id: chosen by the client, echoed in the response. */
export const RequestIdSchema = z.union([z.string().max(128), z.number().int()]);
/** A request id. */
export type RequestId = z.infer<typeof RequestIdSchema>;

/** A request before its params are checked against the method's schema. */
export const RequestEnvelopeSchema = z.object({
  id: RequestIdSchema,
  method: z.string().max(128),
  params: z.unknown().optional(),
});
/** A request before its params are checked. */
export type RequestEnvelope = z.infer<typeof RequestEnvelopeSchema>;

/** Anything the server sends: a result, an error or an event. */
export const ServerMessageSchema = z.union([
  z.object({ id: RequestIdSchema, result: z.unknown() }),
  z.object({ id: RequestIdSchema.nullable(), error: ErrorBodySchema }),
  z.object({ event: z.string(), data: z.unknown() }),
]);
/** Anything the server sends. */
export type ServerMessage = z.infer<typeof ServerMessageSchema>;
