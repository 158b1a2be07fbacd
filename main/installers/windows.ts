// main/installers — Windows: a service registered with sc.exe (written against the sc.exe create /
// failure / failureflag documentation; not run here). One UAC prompt per action: an unelevated
// PowerShell starts an elevated one (Start-Process -Verb RunAs) with the script as -EncodedCommand
// (UTF-16LE base64: no quoting of the script through two command lines). The script
//   - creates %ProgramData%\Switchyard readable by Users, writable only by SYSTEM and Administrators
//     (a config a LocalSystem service reads must not be user-writable), and a config when missing;
//   - `sc.exe create Switchyard binPath= "<exe> <cli> up --config <file>" start= auto` (or `config`
//     when it exists), a description, failure actions (restart after 5 s, 10 s, 30 s; counter reset
//     after a day) with `failureflag 1` so a non-zero exit counts as a failure too;
//   - sets the service's Environment (REG_MULTI_SZ) to ELECTRON_RUN_AS_NODE=1, then starts it.
// sc.exe arguments go through Start-Process -ArgumentList as ONE string, i.e. the command line
// verbatim: Windows PowerShell 5.1 would mangle embedded quotes in separate native arguments.
// Known gap: the service program must answer the Service Control Manager (StartServiceCtrlDispatcher),
// which the Node CLI does not do yet; the named pipe also admits only elevated clients for now.
import {
  firstLine, type ExecResult, type InstallContext, type InstallOutcome, type ServiceCommand, type ServiceInstaller, type ServiceProbe,
} from '../service-installer.js';

/** The service's key name. */
export const WINDOWS_SERVICE = 'Switchyard';
/** ERROR_SERVICE_DOES_NOT_EXIST, ERROR_SERVICE_ALREADY_RUNNING, ERROR_CANCELLED (UAC dismissed). */
export const ERROR_SERVICE_DOES_NOT_EXIST = 1060, ERROR_SERVICE_ALREADY_RUNNING = 1056, ERROR_CANCELLED = 1223;

/** The folder and files under %ProgramData%. */
export function windowsPaths(programData = 'C:\\ProgramData'): { dir: string; config: string; log: string } {
  const dir = `${programData.replace(/\\+$/, '')}\\Switchyard`;
  return { dir, config: `${dir}\\switchyard.yaml`, log: `${dir}\\install.log` };
}

/**
 * Quotes one argument so that CommandLineToArgvW / the C runtime reads it back verbatim: wrapped in
 * quotes when it has whitespace or quotes (or is empty), backslashes doubled only before a quote.
 */
export function crtQuote(arg: string): string {
  if (arg.length > 0 && !/[\s"]/.test(arg)) return arg;
  let out = '"', backslashes = 0;
  for (const ch of arg) {
    if (ch === '\\') { backslashes++; continue; }
    if (ch === '"') { out += '\\'.repeat(backslashes * 2 + 1) + '"'; backslashes = 0; continue; }
    out += '\\'.repeat(backslashes) + ch;
    backslashes = 0;
  }
  return out + '\\'.repeat(backslashes * 2) + '"';
}

/** The service's command line (binPath): the app as Node, its CLI, `up --config <file>`. */
export function windowsBinPath(cmd: ServiceCommand, configPath: string): string {
  return [cmd.exe, cmd.script, 'up', '--config', configPath].map(crtQuote).join(' ');
}

/** The sc.exe command lines (arguments after `sc.exe`) for installing, in order. */
export function scInstallCommands(binPath: string, exists: 'create' | 'config'): string[] {
  const bin = `binPath= ${crtQuote(binPath)}`;
  return [
    exists === 'create'
      ? `create ${WINDOWS_SERVICE} ${bin} start= auto DisplayName= ${crtQuote('Switchyard')}`
      : `config ${WINDOWS_SERVICE} ${bin} start= auto`,
    `description ${WINDOWS_SERVICE} ${crtQuote('Switchyard routing service: per-app routing through a TUN device')}`,
    `failure ${WINDOWS_SERVICE} reset= 86400 actions= restart/5000/restart/10000/restart/30000`,
    `failureflag ${WINDOWS_SERVICE} 1`,
  ];
}

/** A PowerShell single-quoted string literal. */
export function psQuote(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

const SC = '"$env:SystemRoot\\System32\\sc.exe"';
const PS_PRELUDE = [
  "$ErrorActionPreference = 'Stop'",
  'function Invoke-Sc([string]$arguments, [int[]]$ok = @(0)) {',
  `  $p = Start-Process -FilePath ${SC} -ArgumentList $arguments -Wait -NoNewWindow -PassThru`,
  '  if ($ok -notcontains $p.ExitCode) { throw "sc.exe $arguments failed with exit code $($p.ExitCode)" }',
  '}',
];

function wrapWithLog(body: string[], logPath: string): string {
  return [
    ...PS_PRELUDE,
    'try {',
    ...body.map((l) => '  ' + l),
    '} catch {',
    `  try { Add-Content -LiteralPath ${psQuote(logPath)} -Value ("$(Get-Date -Format o) " + $_.Exception.Message) } catch { }`,
    '  exit 1',
    '}',
    'exit 0',
  ].join('\r\n');
}

/** The elevated script that installs (or repairs) and starts the service. */
export function windowsInstallScript(cmd: ServiceCommand, programData?: string): string {
  const { dir, config, log } = windowsPaths(programData);
  const bin = windowsBinPath(cmd, config);
  const [create, ...rest] = scInstallCommands(bin, 'create');
  const [reconfig] = scInstallCommands(bin, 'config');
  const env = Object.entries(cmd.env).map(([k, v]) => psQuote(`${k}=${v}`)).join(', ');
  return wrapWithLog([
    `New-Item -ItemType Directory -Force -Path ${psQuote(dir)} | Out-Null`,
    // SYSTEM and Administrators full control, Users read: by SID, so it works in every language.
    `& "$env:SystemRoot\\System32\\icacls.exe" ${psQuote(dir)} /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' '*S-1-5-32-545:(OI)(CI)RX' | Out-Null`,
    `if (-not (Test-Path -LiteralPath ${psQuote(config)})) { Set-Content -LiteralPath ${psQuote(config)} -Encoding ASCII -Value @('# Switchyard service configuration: see switchyard config example', '{}') }`,
    `if (Get-Service -Name ${psQuote(WINDOWS_SERVICE)} -ErrorAction SilentlyContinue) { Invoke-Sc ${psQuote(reconfig!)} } else { Invoke-Sc ${psQuote(create!)} }`,
    ...rest.map((c) => `Invoke-Sc ${psQuote(c)}`),
    `New-ItemProperty -Path ${psQuote(`HKLM:\\SYSTEM\\CurrentControlSet\\Services\\${WINDOWS_SERVICE}`)} -Name 'Environment' -PropertyType MultiString -Value @(${env}) -Force | Out-Null`,
    `Invoke-Sc ${psQuote(`start ${WINDOWS_SERVICE}`)} @(0, ${ERROR_SERVICE_ALREADY_RUNNING})`,
  ], log);
}

/** The elevated script that starts the installed service. */
export function windowsStartScript(programData?: string): string {
  return wrapWithLog([`Invoke-Sc ${psQuote(`start ${WINDOWS_SERVICE}`)} @(0, ${ERROR_SERVICE_ALREADY_RUNNING})`], windowsPaths(programData).log);
}

/** -EncodedCommand's encoding: base64 of UTF-16LE. */
export function encodePowerShell(script: string): string {
  return Buffer.from(script, 'utf16le').toString('base64');
}

/** The unelevated command that runs `script` elevated (one UAC prompt) and exits with its code (1223 when cancelled). */
export function elevatedPowerShell(script: string): { file: string; args: string[] } {
  const inner = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand', encodePowerShell(script)];
  const outer = [
    'try {',
    `  $p = Start-Process -FilePath 'powershell.exe' -Verb RunAs -WindowStyle Hidden -Wait -PassThru -ArgumentList @(${inner.map(psQuote).join(', ')})`,
    '  exit $p.ExitCode',
    '} catch {',
    '  $e = $_.Exception',
    '  while ($e -and -not ($e -is [System.ComponentModel.Win32Exception])) { $e = $e.InnerException }',
    `  if ($e -and $e.NativeErrorCode -eq ${ERROR_CANCELLED}) { exit ${ERROR_CANCELLED} }`,
    '  [Console]::Error.WriteLine($_.Exception.Message)',
    '  exit 1',
    '}',
  ].join('\r\n');
  return { file: 'powershell.exe', args: ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand', encodePowerShell(outer)] };
}

/** Reads `sc.exe query Switchyard`. */
export function parseScQuery(r: ExecResult): ServiceProbe {
  if (r.error) return { installed: null, running: null, detail: `sc.exe: ${r.error}` };
  if (r.code === ERROR_SERVICE_DOES_NOT_EXIST || /\b1060\b/.test(r.stdout)) return { installed: false, running: false };
  const state = /STATE\s*:\s*(\d+)/.exec(r.stdout);
  if (r.code !== 0 || !state) return { installed: null, running: null, detail: firstLine(r.stdout, r.stderr) };
  // 1 STOPPED, 2 START_PENDING, 3 STOP_PENDING, 4 RUNNING, 5 CONTINUE_PENDING, 6 PAUSE_PENDING, 7 PAUSED
  const code = Number(state[1]);
  return { installed: true, running: code === 2 || code === 4 || code === 5 };
}

/** The outcome of an elevated run. */
export function elevatedOutcome(op: 'install' | 'start', r: ExecResult, programData?: string): InstallOutcome {
  if (r.code === 0) {
    return { ok: true, relogin: false, message: op === 'install' ? 'The Switchyard service is installed and starting.' : 'The Switchyard service is starting.' };
  }
  if (r.code === ERROR_CANCELLED) return { ok: false, cancelled: true, message: 'The administrator prompt was cancelled; nothing was changed.' };
  if (r.error) return { ok: false, cancelled: false, message: `Could not run PowerShell (${r.error}).` };
  return { ok: false, cancelled: false, message: `Installing the service failed (exit ${r.code}); see ${windowsPaths(programData).log}. ${firstLine(r.stderr)}`.trim() };
}

/** sc.exe behind a UAC prompt. */
export class WindowsServiceInstaller implements ServiceInstaller {
  readonly platform = 'win32' as const;
  readonly canGrantAccess = false; // the pipe's DACL admits elevated callers only, so far
  readonly #ctx: InstallContext;
  constructor(ctx: InstallContext) { this.#ctx = ctx; }

  async probe(): Promise<ServiceProbe> {
    return parseScQuery(await this.#ctx.exec('sc.exe', ['query', WINDOWS_SERVICE]));
  }

  async install(): Promise<InstallOutcome> {
    const { file, args } = elevatedPowerShell(windowsInstallScript(this.#ctx.service, this.#ctx.programData));
    return elevatedOutcome('install', await this.#ctx.exec(file, args), this.#ctx.programData);
  }

  async start(): Promise<InstallOutcome> {
    const { file, args } = elevatedPowerShell(windowsStartScript(this.#ctx.programData));
    return elevatedOutcome('start', await this.#ctx.exec(file, args), this.#ctx.programData);
  }

  async grantAccess(): Promise<InstallOutcome> {
    return { ok: false, cancelled: false, message: 'On Windows the service admits administrators only for now.' };
  }
}
