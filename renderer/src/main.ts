// renderer — the entry point: adapt the host (the Electron preload if present, else a WebSocket to the
// service that served this page), build the one Core, mount the App. Nothing else knows the host.
import './lib/zod-jitless.js'; // before anything builds a zod schema
import { mount } from 'svelte';
import { WsClient, wsUrlFor } from '../../app/ui/ws-client.js';
import App from './App.svelte';
import type { HostBridge, HostKind } from './lib/bridge.js';
import { Core } from './lib/core.svelte.js';
import { browserBridge, desktopBridge, tokenlessBridge } from './lib/hosts.js';
import { Prefs } from './lib/prefs.svelte.js';
import { takeToken } from './lib/token.js';
import './styles.css';

const CLIENT_NAME = 'switchyard-ui';

function storageOr(get: () => Storage): Storage | null {
  try { return get(); } catch { return null; }
}

const local = storageOr(() => window.localStorage);
let bridge: HostBridge;
let host: HostKind;
if (window.switchyard) {
  bridge = desktopBridge(window.switchyard);
  host = 'desktop';
} else {
  const session = storageOr(() => window.sessionStorage);
  const token = takeToken(location, session ?? { getItem: () => null, setItem: () => {} }, history);
  bridge = token === null ? tokenlessBridge() : browserBridge(new WsClient({ url: wsUrlFor(location), token, clientName: CLIENT_NAME }));
  host = 'browser';
}

const core = new Core({ bridge, host, storage: local, clientName: CLIENT_NAME });
const prefs = new Prefs(local);
core.start();
mount(App, { target: document.getElementById('app')!, props: { core, prefs } });
