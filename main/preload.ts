// main — the preload: the renderer process's only Electron edge. It runs sandboxed, where `require`
// knows only `electron`, `events`, `timers` and `url`, so build/preload.vite.config.mjs bundles it
// with preload-api.ts and ipc-contract.ts into one CommonJS file (dist/main/preload.cjs). Keep it tiny.
import { contextBridge, ipcRenderer } from 'electron';
import { BRIDGE_GLOBAL } from './ipc-contract.js';
import { createBridge } from './preload-api.js';

contextBridge.exposeInMainWorld(BRIDGE_GLOBAL, createBridge(ipcRenderer));
