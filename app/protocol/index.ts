// app/protocol — the control API's one schema: errors, data shapes, methods and events, the message
// envelope, the typed client facade and tick coalescing. Pure (zod only): safe to import from the
// service, the CLI, Electron main and the renderer alike.
export * from './errors.js';
export * from './schema.js';
export * from './methods.js';
export * from './envelope.js';
export * from './client.js';
export * from './tick.js';
export * from './pending.js';
