// main — installing and starting the privileged service from the unprivileged app: one interface,
// one strategy per OS (installers/linux.ts: pkexec + systemd; installers/windows.ts: UAC + sc.exe;
// installers/macos.ts: an authorization prompt + launchd), each asking for elevation once per action.
// What to offer is decided here, purely, from two observations:
//
//   socket     probe (installed, running)  │ condition       offer
//   ─────────────────────────────────────────┼──────────────────────────────────────────
//   connected  any                           │ connected       —
//   forbidden  any                           │ no-access       "Allow me to use the service…" (where the OS has a group)
//   down       not installed                 │ not-installed   "Install the Switchyard service…"
//   down       installed, not running        │ stopped         "Start the Switchyard service…"
//   down       installed, running            │ starting        — (it is coming up, or listens elsewhere)
//   down       unknown                       │ unknown         "Install or start the service…" (install is idempotent)
import type { ServiceSnapshot } from './service-connection.js';

/** The platforms with a strategy. */
export type ServicePlatform = 'linux' | 'darwin' | 'win32';

/** What the OS's service manager says; null = could not tell. */
export interface ServiceProbe { installed: boolean | null; running: boolean | null; detail?: string }

/** Whether the control socket answers. */
export type SocketReach = 'connected' | 'forbidden' | 'down';

/** The service as the menu sees it. */
export type ServiceCondition = 'connected' | 'no-access' | 'not-installed' | 'stopped' | 'starting' | 'unknown';

/** A menu entry that fixes the condition. */
export interface ServiceOffer { action: 'install-service' | 'start-service' | 'grant-access'; label: string }

/** The result of an install/start/grant, for a dialog. */
export type InstallOutcome =
  | { ok: true; message: string; relogin: boolean }
  | { ok: false; cancelled: boolean; message: string };

/** One OS's way to install, start and open up the service. */
export interface ServiceInstaller {
  readonly platform: ServicePlatform;
  /** The OS has a group that opens the control socket, so "grant access" is possible. */
  readonly canGrantAccess: boolean;
  probe(): Promise<ServiceProbe>;
  /** Installs or repairs, enables at boot and starts the service; lets the user in. Idempotent. */
  install(): Promise<InstallOutcome>;
  start(): Promise<InstallOutcome>;
  /** Adds the user to the service's group (effective at the next login). */
  grantAccess(): Promise<InstallOutcome>;
}

/** A finished child process; `error` is set when it could not run at all (ENOENT, timeout). */
export interface ExecResult { code: number | null; stdout: string; stderr: string; error?: string }
/** Runs a program without a shell; never rejects. */
export type Exec = (file: string, args: readonly string[]) => Promise<ExecResult>;

/** The command that runs the service's CLI: the app's own binary as Node (ELECTRON_RUN_AS_NODE) and its CLI script. */
export interface ServiceCommand { exe: string; script: string; env: Record<string, string> }

/** Everything a strategy needs from the running app. */
export interface InstallContext {
  /** The login name to add to the service's group. */
  user: string;
  service: ServiceCommand;
  /** The folder holding linux/switchyard.service and linux/switchyard-helper.sh (packaged: resources/service). */
  serviceResourcesDir: string;
  /** Set when running from an AppImage ($APPIMAGE): its files vanish when it exits. */
  appImage: string | null;
  /** %ProgramData% on Windows. */
  programData?: string;
  exec: Exec;
  fileExists(path: string): Promise<boolean>;
  /** Writes a temporary file (for the plist) and returns its path. */
  writeTemp?(name: string, content: string): Promise<string>;
}

/** The service's group on Linux and macOS (the config's control.group default). */
export const SERVICE_GROUP = 'switchyard';

/** How the control socket answered, from the connection snapshot. */
export function socketReach(s: Pick<ServiceSnapshot, 'connected' | 'error'>): SocketReach {
  if (s.connected) return 'connected';
  return s.error?.code === 'FORBIDDEN' ? 'forbidden' : 'down';
}

/** The condition for the table above. */
export function decideCondition(reach: SocketReach, probe: ServiceProbe | null): ServiceCondition {
  if (reach === 'connected') return 'connected';
  if (reach === 'forbidden') return 'no-access';
  if (!probe || probe.installed === null) return 'unknown';
  if (!probe.installed) return 'not-installed';
  if (probe.running === null) return 'unknown';
  return probe.running ? 'starting' : 'stopped';
}

/** The menu entry for a condition, or null when nothing can be offered. */
export function serviceOffer(condition: ServiceCondition, caps: { canGrantAccess: boolean } | null): ServiceOffer | null {
  if (!caps) return null; // no strategy for this OS
  switch (condition) {
    case 'not-installed': return { action: 'install-service', label: 'Install the Switchyard service…' };
    case 'stopped': return { action: 'start-service', label: 'Start the Switchyard service…' };
    case 'unknown': return { action: 'install-service', label: 'Install or start the Switchyard service…' };
    case 'no-access': return caps.canGrantAccess ? { action: 'grant-access', label: 'Allow me to use the Switchyard service…' } : null;
    case 'connected':
    case 'starting':
      return null;
  }
}

/** The strategy for a platform name, or null where none exists. */
export function servicePlatform(platform: string): ServicePlatform | null {
  return platform === 'linux' || platform === 'darwin' || platform === 'win32' ? platform : null;
}

/** Shell single-quoting for POSIX sh: the value comes back verbatim. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The first non-empty line of a program's output, for messages. */
export function firstLine(...texts: string[]): string {
  for (const t of texts) {
    const line = t.split(/\r?\n/).map((l) => l.trim()).find((l) => l.length > 0);
    if (line) return line.length > 300 ? line.slice(0, 299) + '…' : line;
  }
  return '';
}
