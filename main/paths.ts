// main — where the app's pieces are, in a development checkout (`electron .` at the repo root) and
// in a packaged app (app.asar + resources/), and which control socket to use. Pure.
//
//   packaged                                   development
//   <appPath> = resources/app.asar             <appPath> = the repository
//     dist/main/index.js, preload.cjs            dist/main/…  (npm run build:main)
//     dist/renderer/index.html                   dist/renderer/…
//     app/cli/bin.js → dist/app/cli/main.js      app/cli/bin.js
//   resources/icons/tray-*.png                 build/icons/tray/
//   resources/service/linux/*                  build/linux/
import path from 'node:path';
import { PIPE_PREFIX, DEFAULT_PIPE_NAME } from '../app/control/pipe-transport.js';
import { MAC_SOCKET } from './installers/macos.js';
import type { ServiceCommand } from './service-installer.js';

/** What the edge knows about the running app. */
export interface RuntimeFacts {
  platform: string;
  isPackaged: boolean;
  /** app.getAppPath(): the asar, or the repository in development. */
  appPath: string;
  /** process.resourcesPath. */
  resourcesPath: string;
  /** process.execPath: the Electron binary (the app's own executable when packaged). */
  execPath: string;
}

/** The app's files. */
export interface AppPaths {
  rendererDir: string;
  preloadPath: string;
  trayIconDir: string;
  /** Holds linux/switchyard.service and linux/switchyard-helper.sh. */
  serviceResourcesDir: string;
  /** The window icon (Linux/Windows). */
  windowIcon: string;
}

/** The app's files for these facts. */
export function appPaths(f: RuntimeFacts): AppPaths {
  const resources = f.isPackaged ? f.resourcesPath : path.join(f.appPath, 'build');
  return {
    rendererDir: path.join(f.appPath, 'dist', 'renderer'),
    preloadPath: path.join(f.appPath, 'dist', 'main', 'preload.cjs'),
    trayIconDir: f.isPackaged ? path.join(f.resourcesPath, 'icons') : path.join(f.appPath, 'build', 'icons', 'tray'),
    serviceResourcesDir: f.isPackaged ? path.join(f.resourcesPath, 'service') : resources,
    windowIcon: f.isPackaged ? path.join(f.resourcesPath, 'icons', 'app.png') : path.join(f.appPath, 'build', 'icons', 'tray', 'app.png'),
  };
}

/**
 * How the service runs: this very executable as plain Node (ELECTRON_RUN_AS_NODE=1; the runAsNode fuse
 * stays on for it) running the CLI script. So no second runtime ships, and the service is the same
 * version as the app.
 */
export function serviceCommand(f: RuntimeFacts): ServiceCommand {
  return { exe: f.execPath, script: path.join(f.appPath, 'app', 'cli', 'bin.js'), env: { ELECTRON_RUN_AS_NODE: '1' } };
}

/** The control socket: $SWITCHYARD_SOCKET, else the service's default on this OS. */
export function controlSocketPath(platform: string, env: Record<string, string | undefined>): string {
  const override = env['SWITCHYARD_SOCKET'];
  if (override) return override;
  if (platform === 'win32') return PIPE_PREFIX + DEFAULT_PIPE_NAME;
  if (platform === 'darwin') return MAC_SOCKET;
  return '/run/switchyard/control.sock';
}
