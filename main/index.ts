// main — the Electron main process: composition only. Every behaviour lives in a module of its own
// (see main/README.md for the map); this file builds them and wires them together.
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { ControlClient } from '../app/control/client.js';
import { XdgAutostart, autostartFile, launchTarget, startsHidden, type LoginItems } from './autostart.js';
import { DesktopController } from './desktop-controller.js';
import {
  createTray, createWindow, dialogs, electronLoginItems, lifecycle, registerAppScheme, runtimeFacts, serveRenderer,
} from './electron-edge.js';
import { execProgram } from './exec.js';
import { createServiceInstaller } from './installers/index.js';
import { IpcBridge } from './ipc-bridge.js';
import { MainWindow } from './main-window.js';
import { appPaths, controlSocketPath, serviceCommand } from './paths.js';
import { ServiceConnection } from './service-connection.js';
import { isAppUrl } from './window-policy.js';

registerAppScheme();
const facts = runtimeFacts();
const paths = appPaths(facts);
let window: MainWindow | null = null;

// No top-level await on whenReady: Electron emits `ready` only after the ESM entry has evaluated,
// so awaiting it here would hang (Electron's ESM guide, "Caveats").
if (!lifecycle.claimSingleInstance(() => window?.show())) {
  lifecycle.quit();
} else {
  lifecycle.install(facts.isPackaged);
  void lifecycle.whenReady().then(start).catch((e: unknown) => {
    console.error('switchyard-desktop: start failed:', e);
    lifecycle.quit();
  });
}

async function start(): Promise<void> {
  serveRenderer(paths.rendererDir);

  const service = new ServiceConnection({
    connect: () => ControlClient.connect({
      socketPath: controlSocketPath(facts.platform, process.env),
      clientName: 'switchyard-desktop',
      reconnect: true,
    }),
  });
  const bridge = new IpcBridge({ ipc: lifecycle.ipcMain, service, isTrustedSender: isAppUrl });
  bridge.register();
  window = new MainWindow(() => createWindow({ preloadPath: paths.preloadPath, production: facts.isPackaged, iconPath: paths.windowIcon }), bridge);

  const loginItems: LoginItems = facts.platform === 'linux'
    ? new XdgAutostart({
      file: autostartFile(process.env, os.homedir()),
      exec: launchTarget(facts.execPath, process.env),
      fs: {
        readFile: (f) => readFile(f, 'utf8'),
        writeFile: (f, text) => writeFile(f, text, { mode: 0o644 }),
        mkdir: async (d) => { await mkdir(d, { recursive: true }); },
        rm: (f) => rm(f, { force: true }),
      },
    })
    : electronLoginItems;

  const installer = createServiceInstaller(facts.platform, {
    user: os.userInfo().username,
    service: serviceCommand(facts),
    serviceResourcesDir: paths.serviceResourcesDir,
    appImage: process.env['APPIMAGE'] ?? null,
    ...(process.env['ProgramData'] ? { programData: process.env['ProgramData'] } : {}),
    exec: execProgram,
    fileExists: (p) => stat(p).then(() => true, () => false),
  });

  const mainWindow = window;
  const controller: DesktopController = new DesktopController({
    service, installer, loginItems, dialogs,
    tray: createTray(paths.trayIconDir, (action) => { void controller.act(action); }),
    window: mainWindow,
    quit: () => lifecycle.quit(),
  });
  lifecycle.onQuit(() => { controller.stop(); bridge.unregister(); service.stop(); });

  await controller.start();
  service.start();
  if (!startsHidden(process.argv, lifecycle.openedAtLogin())) mainWindow.show();
}
