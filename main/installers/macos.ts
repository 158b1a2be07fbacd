// main/installers — macOS: a launchd daemon (launchd.plist(5)), written against the man page and not
// run here. One authorization prompt per action: osascript `do shell script … with administrator
// privileges` runs a sh script as root that
//   - writes /Library/LaunchDaemons/com.switchyard.service.plist (root:wheel 0644; the plist travels
//     inside the script as base64, so no user-writable temporary file is read by root),
//   - writes a config when missing (the socket under /var/run: macOS has no /run),
//   - creates the `switchyard` group and adds the user (dseditgroup),
//   - `launchctl bootout` (a previous version) then `launchctl enable` + `launchctl bootstrap system`.
// The daemon: RunAtLoad, KeepAlive { SuccessfulExit: false } (restart after a crash, the
// counterpart of Restart=on-failure), ELECTRON_RUN_AS_NODE=1, logs in /Library/Logs/Switchyard. After
// a crash the next start undoes the leftover routes (the journal); there is no ExecStopPost in launchd.
import {
  SERVICE_GROUP, firstLine, shQuote, type ExecResult, type InstallContext, type InstallOutcome, type ServiceCommand, type ServiceInstaller, type ServiceProbe,
} from '../service-installer.js';

/** The daemon's label and files. */
export const MAC_LABEL = 'com.switchyard.service';
export const MAC_PLIST_PATH = `/Library/LaunchDaemons/${MAC_LABEL}.plist`;
export const MAC_CONFIG_DIR = '/Library/Application Support/Switchyard';
export const MAC_CONFIG = `${MAC_CONFIG_DIR}/switchyard.yaml`;
export const MAC_LOG_DIR = '/Library/Logs/Switchyard';
/** The control socket on macOS (the config written at install says so; the app connects here). */
export const MAC_SOCKET = '/var/run/switchyard/control.sock';

function xmlEscape(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

/** The daemon's property list. */
export function renderLaunchdPlist(cmd: ServiceCommand, configPath = MAC_CONFIG): string {
  const str = (s: string): string => `<string>${xmlEscape(s)}</string>`;
  const args = [cmd.exe, cmd.script, 'up', '--config', configPath];
  const env = Object.entries(cmd.env).map(([k, v]) => `\t\t<key>${xmlEscape(k)}</key>\n\t\t${str(v)}`).join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t<key>Label</key>
\t${str(MAC_LABEL)}
\t<key>ProgramArguments</key>
\t<array>
${args.map((a) => `\t\t${str(a)}`).join('\n')}
\t</array>
\t<key>EnvironmentVariables</key>
\t<dict>
${env}
\t</dict>
\t<key>RunAtLoad</key>
\t<true/>
\t<key>KeepAlive</key>
\t<dict>
\t\t<key>SuccessfulExit</key>
\t\t<false/>
\t</dict>
\t<key>ThrottleInterval</key>
\t<integer>5</integer>
\t<key>ExitTimeOut</key>
\t<integer>20</integer>
\t<key>StandardOutPath</key>
\t${str(`${MAC_LOG_DIR}/service.log`)}
\t<key>StandardErrorPath</key>
\t${str(`${MAC_LOG_DIR}/service.log`)}
</dict>
</plist>
`;
}

/** The root script for an operation. */
export function macScript(op: 'install' | 'start' | 'grant', ctx: Pick<InstallContext, 'user' | 'service'>): string {
  const user = shQuote(ctx.user);
  const grant = [
    `dseditgroup -o read ${SERVICE_GROUP} >/dev/null 2>&1 || dseditgroup -o create -r Switchyard ${SERVICE_GROUP}`,
    `dseditgroup -o edit -a ${user} -t user ${SERVICE_GROUP}`,
  ];
  const target = `system/${MAC_LABEL}`;
  switch (op) {
    case 'grant':
      return ['set -e', ...grant].join('\n');
    case 'start':
      return ['set -e', `launchctl enable ${target}`, `launchctl bootstrap system ${shQuote(MAC_PLIST_PATH)} 2>/dev/null || true`, `launchctl kickstart ${target}`].join('\n');
    case 'install': {
      const plist = Buffer.from(renderLaunchdPlist(ctx.service), 'utf8').toString('base64');
      const config = ['# Switchyard service configuration: see `switchyard config example`', 'control:', `  socket: ${MAC_SOCKET}`, `  group: ${SERVICE_GROUP}`];
      return [
        'set -e',
        `mkdir -p ${shQuote(MAC_CONFIG_DIR)} ${shQuote(MAC_LOG_DIR)}`,
        `[ -f ${shQuote(MAC_CONFIG)} ] || printf '%s\\n' ${config.map(shQuote).join(' ')} > ${shQuote(MAC_CONFIG)}`,
        ...grant,
        `printf '%s' ${shQuote(plist)} | /usr/bin/base64 -D > ${shQuote(MAC_PLIST_PATH)}`,
        `chown root:wheel ${shQuote(MAC_PLIST_PATH)}`,
        `chmod 0644 ${shQuote(MAC_PLIST_PATH)}`,
        `launchctl bootout ${target} 2>/dev/null || true`,
        `launchctl enable ${target}`,
        `launchctl bootstrap system ${shQuote(MAC_PLIST_PATH)}`,
      ].join('\n');
    }
  }
}

/** An AppleScript string literal. */
export function appleScriptString(s: string): string {
  return `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** The osascript command that runs `script` as root after the authorization prompt. */
export function adminShellCommand(script: string): { file: string; args: string[] } {
  return { file: '/usr/bin/osascript', args: ['-e', `do shell script ${appleScriptString(script)} with administrator privileges`] };
}

/** Reads `launchctl print system/<label>` (exit 0 when loaded). */
export function parseLaunchctlPrint(r: ExecResult): boolean | null {
  if (r.error) return null;
  if (r.code !== 0) return false;
  return /^\s*state = running\b/m.test(r.stdout);
}

/** The outcome of an osascript run; -128 is "User canceled". */
export function osascriptOutcome(op: 'install' | 'start' | 'grant', r: ExecResult): InstallOutcome {
  if (r.code === 0) {
    if (op === 'start') return { ok: true, relogin: false, message: 'The Switchyard service is starting.' };
    return { ok: true, relogin: true, message: op === 'install'
      ? 'The Switchyard service is installed and running. Log out and back in once so that your new group (switchyard) lets the app control it.'
      : 'You were added to the switchyard group. Log out and back in so that it takes effect.' };
  }
  if (/-128\b|User cancell?ed/i.test(r.stderr)) return { ok: false, cancelled: true, message: 'The administrator prompt was cancelled; nothing was changed.' };
  return { ok: false, cancelled: false, message: `The service could not be set up: ${firstLine(r.stderr, r.stdout) || r.error || `exit ${r.code}`}` };
}

/** launchd behind an authorization prompt. */
export class LaunchdInstaller implements ServiceInstaller {
  readonly platform = 'darwin' as const;
  readonly canGrantAccess = true;
  readonly #ctx: InstallContext;
  constructor(ctx: InstallContext) { this.#ctx = ctx; }

  async probe(): Promise<ServiceProbe> {
    const installed = await this.#ctx.fileExists(MAC_PLIST_PATH);
    if (!installed) return { installed: false, running: false };
    return { installed: true, running: parseLaunchctlPrint(await this.#ctx.exec('launchctl', ['print', `system/${MAC_LABEL}`])) };
  }

  install(): Promise<InstallOutcome> { return this.#run('install'); }
  start(): Promise<InstallOutcome> { return this.#run('start'); }
  grantAccess(): Promise<InstallOutcome> { return this.#run('grant'); }

  async #run(op: 'install' | 'start' | 'grant'): Promise<InstallOutcome> {
    const { file, args } = adminShellCommand(macScript(op, this.#ctx));
    return osascriptOutcome(op, await this.#ctx.exec(file, args));
  }
}
