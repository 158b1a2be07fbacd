// Installing and starting the service: what to offer (decision table), and per OS the exact commands
// rendered and the answers read back, with the exec edge faked. The systemd unit is checked by
// systemd-analyze and the root helper run with --dry-run where those exist.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decideCondition, serviceOffer, socketReach, shQuote, type ExecResult, type InstallContext, type ServiceCondition, type ServiceProbe,
} from '../../main/service-installer.js';
import { createServiceInstaller } from '../../main/installers/index.js';
import { LINUX_HELPER_FILE, LINUX_UNIT_FILE, SystemdInstaller, linuxHelperCommand, parseSystemctlShow, pkexecOutcome } from '../../main/installers/linux.js';
import {
  ERROR_CANCELLED, WindowsServiceInstaller, crtQuote, elevatedOutcome, elevatedPowerShell, parseScQuery, scInstallCommands, windowsBinPath, windowsInstallScript,
} from '../../main/installers/windows.js';
import {
  LaunchdInstaller, MAC_LABEL, MAC_PLIST_PATH, adminShellCommand, appleScriptString, macScript, osascriptOutcome, parseLaunchctlPrint, renderLaunchdPlist,
} from '../../main/installers/macos.js';
import { serviceCommand } from '../../main/paths.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
const exit = (code: number, stderr = '', stdout = ''): ExecResult => ({ code, stdout, stderr });

function ctx(over: Partial<InstallContext> = {}, answers: ExecResult[] = []) {
  const calls: { file: string; args: readonly string[] }[] = [];
  const c: InstallContext = {
    user: 'alice',
    service: { exe: '/opt/Switchyard/switchyard-desktop', script: '/opt/Switchyard/resources/app.asar/app/cli/bin.js', env: { ELECTRON_RUN_AS_NODE: '1' } },
    serviceResourcesDir: '/opt/Switchyard/resources/service',
    appImage: null,
    exec: async (file, args) => { calls.push({ file, args }); return answers.shift() ?? ok(); },
    fileExists: async () => true,
    ...over,
  };
  return { c, calls };
}

describe('what to offer', () => {
  const probe = (installed: boolean | null, running: boolean | null): ServiceProbe => ({ installed, running });
  it.each<[string, Parameters<typeof decideCondition>[0], ServiceProbe | null, ServiceCondition]>([
    ['socket answers', 'connected', probe(false, false), 'connected'],
    ['socket refuses us', 'forbidden', probe(true, true), 'no-access'],
    ['not installed', 'down', probe(false, false), 'not-installed'],
    ['installed, stopped', 'down', probe(true, false), 'stopped'],
    ['installed, running, socket not up yet', 'down', probe(true, true), 'starting'],
    ['the OS could not tell', 'down', probe(null, null), 'unknown'],
    ['installed, state unknown', 'down', probe(true, null), 'unknown'],
    ['no probe yet', 'down', null, 'unknown'],
  ])('%s', (_, reach, p, condition) => {
    expect(decideCondition(reach, p)).toBe(condition);
  });

  it.each<[ServiceCondition, boolean, string | null]>([
    ['connected', true, null],
    ['starting', true, null],
    ['not-installed', true, 'install-service'],
    ['unknown', true, 'install-service'],
    ['stopped', true, 'start-service'],
    ['no-access', true, 'grant-access'],
    ['no-access', false, null],
  ])('offer for %s (group access: %s) is %s', (condition, canGrantAccess, action) => {
    expect(serviceOffer(condition, { canGrantAccess })?.action ?? null).toBe(action);
  });

  it('offers nothing where no strategy exists, and reads the socket state from the snapshot', () => {
    expect(serviceOffer('not-installed', null)).toBeNull();
    expect(socketReach({ connected: true, error: null })).toBe('connected');
    expect(socketReach({ connected: false, error: { code: 'FORBIDDEN', message: '' } })).toBe('forbidden');
    expect(socketReach({ connected: false, error: { code: 'UNAVAILABLE', message: '' } })).toBe('down');
  });

  it('picks one strategy per platform', () => {
    const { c } = ctx();
    expect(createServiceInstaller('linux', c)?.platform).toBe('linux');
    expect(createServiceInstaller('darwin', c)?.platform).toBe('darwin');
    expect(createServiceInstaller('win32', c)?.platform).toBe('win32');
    expect(createServiceInstaller('freebsd', c)).toBeNull();
  });

  it('runs the service as the app binary in Node mode with its CLI script', () => {
    expect(serviceCommand({ platform: 'linux', isPackaged: true, appPath: '/opt/S/resources/app.asar', resourcesPath: '/opt/S/resources', execPath: '/opt/S/switchyard-desktop' }))
      .toEqual({ exe: '/opt/S/switchyard-desktop', script: '/opt/S/resources/app.asar/app/cli/bin.js', env: { ELECTRON_RUN_AS_NODE: '1' } });
  });
});

describe('Linux: pkexec + systemd', () => {
  it('renders the pkexec command lines', () => {
    const { c } = ctx();
    expect(linuxHelperCommand('install', c)).toEqual({
      file: 'pkexec',
      args: ['/opt/Switchyard/resources/service/linux/switchyard-helper.sh', 'install', '--user', 'alice',
        '--unit', '/opt/Switchyard/resources/service/linux/switchyard.service',
        '--exe', '/opt/Switchyard/switchyard-desktop', '--script', '/opt/Switchyard/resources/app.asar/app/cli/bin.js'],
    });
    expect(linuxHelperCommand('start', c).args).toEqual(['/opt/Switchyard/resources/service/linux/switchyard-helper.sh', 'start']);
    expect(linuxHelperCommand('grant', c).args.slice(1)).toEqual(['grant', '--user', 'alice']);
  });

  it.each<[string, string, ServiceProbe]>([
    ['not installed', 'LoadState=not-found\nActiveState=inactive\n', { installed: false, running: false }],
    ['running', 'LoadState=loaded\nActiveState=active\n', { installed: true, running: true, detail: 'loaded/active' }],
    ['stopped', 'LoadState=loaded\nActiveState=inactive\n', { installed: true, running: false, detail: 'loaded/inactive' }],
    ['failed', 'LoadState=loaded\nActiveState=failed\n', { installed: true, running: false, detail: 'loaded/failed' }],
    ['masked', 'LoadState=masked\nActiveState=inactive\n', { installed: true, running: false, detail: 'the unit is masked' }],
  ])('reads systemctl show: %s', (_, out, expected) => {
    expect(parseSystemctlShow(out)).toEqual(expected);
  });

  it('probes unprivileged, and says "unknown" without systemd', async () => {
    const { c, calls } = ctx({}, [ok('LoadState=loaded\nActiveState=active\n'), { code: null, stdout: '', stderr: '', error: 'ENOENT' }]);
    const inst = new SystemdInstaller(c);
    expect(await inst.probe()).toMatchObject({ installed: true, running: true });
    expect(calls[0]).toEqual({ file: 'systemctl', args: ['show', '-p', 'LoadState', '-p', 'ActiveState', 'switchyard.service'] });
    expect(await inst.probe()).toMatchObject({ installed: null, running: null });
  });

  it('maps pkexec results: success (log in again for the group), cancelled, failed', () => {
    expect(pkexecOutcome('install', ok())).toMatchObject({ ok: true, relogin: true });
    expect(pkexecOutcome('start', ok())).toMatchObject({ ok: true, relogin: false });
    expect(pkexecOutcome('install', exit(126))).toMatchObject({ ok: false, cancelled: true });
    expect(pkexecOutcome('install', exit(127))).toMatchObject({ ok: false, cancelled: true });
    expect(pkexecOutcome('install', exit(1, 'switchyard-helper: --exe does not exist: /x\n'))).toEqual({ ok: false, cancelled: false, message: 'The service helper failed (exit 1): switchyard-helper: --exe does not exist: /x' });
  });

  it('will not install from an AppImage (its files vanish) and runs nothing', async () => {
    const { c, calls } = ctx({ appImage: '/home/alice/Switchyard.AppImage' });
    expect(await new SystemdInstaller(c).install()).toMatchObject({ ok: false, cancelled: false, message: expect.stringContaining('AppImage') });
    expect(calls).toEqual([]);
  });

  const unit = readFileSync(path.join(ROOT, 'build', LINUX_UNIT_FILE), 'utf8');
  const directive = (key: string) => unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  it('the unit runs `up`, cleans up after every stop and restarts on failure', () => {
    expect(directive('ExecStart')).toEqual(['/usr/local/bin/switchyard up --config /etc/switchyard/switchyard.yaml']);
    expect(directive('ExecStopPost')).toEqual(['/usr/local/bin/switchyard cleanup --config /etc/switchyard/switchyard.yaml']);
    expect(directive('Restart')).toEqual(['on-failure']);
    expect(directive('WantedBy')).toEqual(['multi-user.target']);
  });

  it('the unit keeps CAP_NET_ADMIN and CAP_NET_RAW, opens only /dev/net/tun, and does not forbid the JIT', () => {
    expect(directive('CapabilityBoundingSet')).toHaveLength(1);
    const caps = directive('CapabilityBoundingSet')[0]!.split(' ');
    expect(caps).toEqual(expect.arrayContaining(['CAP_NET_ADMIN', 'CAP_NET_RAW']));
    expect(caps).not.toContain('CAP_SYS_ADMIN');
    expect(directive('DeviceAllow')).toEqual(['/dev/net/tun rw']);
    expect(directive('NoNewPrivileges')).toEqual(['yes']);
    expect(directive('ProtectSystem')).toEqual(['strict']);
    expect(directive('ReadWritePaths')).toEqual(['/etc/switchyard']);
    expect(directive('MemoryDenyWriteExecute')).toEqual([]);
    expect(directive('PrivateDevices')).toEqual([]);
  });

  it.skipIf(!existsSync('/usr/bin/systemd-analyze'))('systemd-analyze accepts the unit and parses every capability', () => {
    const r = spawnSync('bash', ['-c', 'd=$(mktemp -d) && sed "s#/usr/local/bin/switchyard#/bin/true#" "$1" > "$d/switchyard.service" && SYSTEMD_LOG_LEVEL=debug systemd-analyze verify "$d/switchyard.service"; rc=$?; rm -r "$d"; exit $rc', 'x', path.join(ROOT, 'build', LINUX_UNIT_FILE)], { encoding: 'utf8' });
    const out = r.stdout + r.stderr;
    expect(r.status, out).toBe(0);
    // warnings about our file name it with a line number ("…/switchyard.service:54: Unknown key …")
    expect(out.split('\n').filter((l) => /switchyard\.service:\d+:/.test(l))).toEqual([]);
    expect(out).toMatch(/CapabilityBoundingSet: cap_chown cap_dac_read_search cap_net_admin cap_net_raw cap_sys_ptrace/);
  });

  const helper = path.join(ROOT, 'build', LINUX_HELPER_FILE);
  it('the helper is executable (pkexec runs it directly)', () => {
    expect(() => accessSync(helper, constants.X_OK)).not.toThrow();
  });

  it.skipIf(!existsSync('/bin/bash'))('the helper (dry run) adds the group and user, writes the launcher, installs and starts the unit', () => {
    const exe = process.execPath, script = path.join(ROOT, 'app/cli/bin.js');
    const out = execFileSync('/bin/bash', [helper, 'install', '--dry-run', '--user', 'alice', '--unit', path.join(ROOT, 'build', LINUX_UNIT_FILE), '--exe', exe, '--script', script], { encoding: 'utf8' });
    const lines = out.split('\n');
    expect(lines).toEqual(expect.arrayContaining([
      'would run: usermod -a -G switchyard alice',
      'would write /usr/local/bin/switchyard (mode 0755):',
      `  | ELECTRON_RUN_AS_NODE=1 exec ${shQuote(exe)} ${shQuote(script)} "$@"`,
      `would run: install -D -m 0644 ${path.join(ROOT, 'build', LINUX_UNIT_FILE)} /etc/systemd/system/switchyard.service`,
      'would run: systemctl daemon-reload',
      'would run: systemctl enable switchyard.service',
      'would run: systemctl restart switchyard.service',
    ]));
    expect(lines.indexOf('would run: systemctl daemon-reload')).toBeLessThan(lines.indexOf('would run: systemctl restart switchyard.service'));
  });

  it.skipIf(!existsSync('/bin/bash'))('the helper refuses bad arguments before changing anything (exit 2)', () => {
    const run = (...args: string[]) => spawnSync('/bin/bash', [helper, ...args], { encoding: 'utf8' });
    expect(run('install', '--dry-run', '--user', 'x;rm -rf /', '--unit', '/a', '--exe', '/b', '--script', '/c')).toMatchObject({ status: 2, stderr: expect.stringContaining('not a valid user name') });
    expect(run('install', '--dry-run', '--user', 'alice', '--unit', 'relative.service', '--exe', '/b', '--script', '/c')).toMatchObject({ status: 2, stderr: expect.stringContaining('absolute') });
    expect(run('frobnicate')).toMatchObject({ status: 2 });
    expect(run('start', '--bogus')).toMatchObject({ status: 2 });
  });
});

/** CommandLineToArgvW's rules (the reference the quoting is checked against). */
function parseWindowsCommandLine(line: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (i >= line.length) break;
    let arg = '', quoted = false;
    for (; i < line.length; i++) {
      const ch = line[i]!;
      if (ch === '\\') {
        let n = 0;
        while (line[i] === '\\') { n++; i++; }
        if (line[i] === '"') { arg += '\\'.repeat(n >> 1); if (n % 2 === 1) { arg += '"'; continue; } i--; continue; }
        arg += '\\'.repeat(n); i--; continue;
      }
      if (ch === '"') { if (quoted && line[i + 1] === '"') { arg += '"'; i++; continue; } quoted = !quoted; continue; }
      if (!quoted && (ch === ' ' || ch === '\t')) break;
      arg += ch;
    }
    args.push(arg);
  }
  return args;
}

describe('Windows: sc.exe behind UAC', () => {
  const cmd = { exe: 'C:\\Program Files\\Switchyard\\Switchyard.exe', script: 'C:\\Program Files\\Switchyard\\resources\\app.asar\\app\\cli\\bin.js', env: { ELECTRON_RUN_AS_NODE: '1' } };

  it.each(['plain', 'with space', 'C:\\Program Files\\x.exe', 'quote"inside', 'trailing\\', 'C:\\dir with space\\', 'a\\\\"b', ''])('quotes %j so CommandLineToArgvW reads it back', (arg) => {
    expect(parseWindowsCommandLine(`prog ${crtQuote(arg)} next`)).toEqual(['prog', arg, 'next']);
  });

  it('builds binPath and the sc.exe command lines (docs: "option= value", a space after the equals sign)', () => {
    const bin = windowsBinPath(cmd, 'C:\\ProgramData\\Switchyard\\switchyard.yaml');
    expect(bin).toBe('"C:\\Program Files\\Switchyard\\Switchyard.exe" "C:\\Program Files\\Switchyard\\resources\\app.asar\\app\\cli\\bin.js" up --config C:\\ProgramData\\Switchyard\\switchyard.yaml');
    const [create, description, failure, flag] = scInstallCommands(bin, 'create');
    expect(parseWindowsCommandLine(`sc.exe ${create}`)).toEqual(['sc.exe', 'create', 'Switchyard', 'binPath=', bin, 'start=', 'auto', 'DisplayName=', 'Switchyard']);
    expect(parseWindowsCommandLine(`sc.exe ${description}`).slice(1, 3)).toEqual(['description', 'Switchyard']);
    expect(failure).toBe('failure Switchyard reset= 86400 actions= restart/5000/restart/10000/restart/30000');
    expect(flag).toBe('failureflag Switchyard 1');
    expect(parseWindowsCommandLine(bin)).toEqual([cmd.exe, cmd.script, 'up', '--config', 'C:\\ProgramData\\Switchyard\\switchyard.yaml']);
    expect(scInstallCommands(bin, 'config')[0]).toMatch(/^config Switchyard binPath= ".*" start= auto$/);
  });

  it('runs one elevated PowerShell: the script travels as UTF-16LE base64, cancellation is 1223', () => {
    const script = windowsInstallScript(cmd, 'D:\\Data');
    const { file, args } = elevatedPowerShell(script);
    expect(file).toBe('powershell.exe');
    expect(args.slice(0, 5)).toEqual(['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand']);
    const outer = Buffer.from(args[5]!, 'base64').toString('utf16le');
    expect(outer).toContain("Start-Process -FilePath 'powershell.exe' -Verb RunAs");
    expect(outer).toContain(`exit ${ERROR_CANCELLED}`);
    const inner = /'-EncodedCommand', '([A-Za-z0-9+/=]+)'/.exec(outer)![1]!;
    expect(Buffer.from(inner, 'base64').toString('utf16le')).toBe(script);
    expect(script).toContain("New-Item -ItemType Directory -Force -Path 'D:\\Data\\Switchyard'");
    expect(script).toContain("'*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' '*S-1-5-32-545:(OI)(CI)RX'");
    expect(script).toContain("-Name 'Environment' -PropertyType MultiString -Value @('ELECTRON_RUN_AS_NODE=1')");
    expect(script).toContain("Invoke-Sc 'failureflag Switchyard 1'");
    expect(script).toContain("Invoke-Sc 'start Switchyard' @(0, 1056)");
    // every sc.exe argument string sits in a PowerShell single-quoted literal: quotes doubled, nothing expanded
    expect(script).toContain(`Invoke-Sc '${scInstallCommands(windowsBinPath(cmd, 'D:\\Data\\Switchyard\\switchyard.yaml'), 'create')[0]!.replaceAll("'", "''")}'`);
  });

  it.each<[string, ExecResult, ServiceProbe]>([
    ['not installed', exit(1060, '', '[SC] EnumQueryServicesStatus:OpenService FAILED 1060:\r\n\r\nThe specified service does not exist as an installed service.\r\n'), { installed: false, running: false }],
    ['running', ok('SERVICE_NAME: Switchyard\r\n        TYPE               : 10  WIN32_OWN_PROCESS\r\n        STATE              : 4  RUNNING\r\n'), { installed: true, running: true }],
    ['stopped', ok('SERVICE_NAME: Switchyard\r\n        STATE              : 1  STOPPED\r\n'), { installed: true, running: false }],
    ['starting', ok('        STATE              : 2  START_PENDING\r\n'), { installed: true, running: true }],
  ])('reads sc.exe query: %s', (_, r, expected) => {
    expect(parseScQuery(r)).toEqual(expected);
  });

  it('maps elevated results and runs install through exec', async () => {
    expect(elevatedOutcome('install', exit(ERROR_CANCELLED))).toMatchObject({ ok: false, cancelled: true });
    expect(elevatedOutcome('install', exit(1), 'C:\\ProgramData')).toMatchObject({ ok: false, cancelled: false, message: expect.stringContaining('C:\\ProgramData\\Switchyard\\install.log') });
    const { c, calls } = ctx({ service: cmd }, [ok()]);
    const inst = new WindowsServiceInstaller(c);
    expect(await inst.install()).toMatchObject({ ok: true });
    expect(calls[0]!.file).toBe('powershell.exe');
    expect(inst.canGrantAccess).toBe(false);
  });
});

describe('macOS: launchd behind an authorization prompt', () => {
  const cmd = { exe: '/Applications/Switchyard.app/Contents/MacOS/Switchyard', script: '/Applications/Switchyard.app/Contents/Resources/app.asar/app/cli/bin.js', env: { ELECTRON_RUN_AS_NODE: '1' } };

  it('renders the daemon plist with the launchd.plist(5) keys', () => {
    const plist = renderLaunchdPlist(cmd);
    expect(plist).toContain(`<key>Label</key>\n\t<string>${MAC_LABEL}</string>`);
    expect(plist).toContain('<key>ProgramArguments</key>\n\t<array>\n\t\t<string>/Applications/Switchyard.app/Contents/MacOS/Switchyard</string>');
    expect(plist).toContain('<string>up</string>\n\t\t<string>--config</string>\n\t\t<string>/Library/Application Support/Switchyard/switchyard.yaml</string>');
    expect(plist).toContain('<key>ELECTRON_RUN_AS_NODE</key>\n\t\t<string>1</string>');
    expect(plist).toContain('<key>RunAtLoad</key>\n\t<true/>');
    expect(plist).toContain('<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>');
    expect(renderLaunchdPlist({ ...cmd, exe: '/A & B/<x>' })).toContain('<string>/A &amp; B/&lt;x&gt;</string>');
  });

  it.skipIf(spawnSync('python3', ['-c', 'import plistlib'], { encoding: 'utf8' }).status !== 0)('the plist parses as a property list (python plistlib)', () => {
    const r = spawnSync('python3', ['-c', 'import plistlib,sys,json; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'], { input: renderLaunchdPlist(cmd), encoding: 'utf8' });
    expect(JSON.parse(r.stdout)).toEqual({
      Label: MAC_LABEL,
      ProgramArguments: [cmd.exe, cmd.script, 'up', '--config', '/Library/Application Support/Switchyard/switchyard.yaml'],
      EnvironmentVariables: { ELECTRON_RUN_AS_NODE: '1' },
      RunAtLoad: true, KeepAlive: { SuccessfulExit: false }, ThrottleInterval: 5, ExitTimeOut: 20,
      StandardOutPath: '/Library/Logs/Switchyard/service.log', StandardErrorPath: '/Library/Logs/Switchyard/service.log',
    });
  });

  it('the root script writes the plist (embedded), the group and bootstraps the daemon', () => {
    const s = macScript('install', { user: "o'neil", service: cmd });
    const b64 = /printf '%s' '([A-Za-z0-9+/=]+)' \| \/usr\/bin\/base64 -D > '\/Library\/LaunchDaemons\/com\.switchyard\.service\.plist'/.exec(s)![1]!;
    expect(Buffer.from(b64, 'base64').toString('utf8')).toBe(renderLaunchdPlist(cmd));
    const lines = s.split('\n');
    expect(lines[0]).toBe('set -e');
    expect(lines).toEqual(expect.arrayContaining([
      "dseditgroup -o edit -a 'o'\\''neil' -t user switchyard",
      `chown root:wheel '${MAC_PLIST_PATH}'`,
      `launchctl bootout system/${MAC_LABEL} 2>/dev/null || true`,
      `launchctl enable system/${MAC_LABEL}`,
      `launchctl bootstrap system '${MAC_PLIST_PATH}'`,
    ]));
    expect(s).toContain('socket: /var/run/switchyard/control.sock');
    expect(macScript('start', { user: 'a', service: cmd })).toContain(`launchctl kickstart system/${MAC_LABEL}`);
  });

  it('wraps the script in one AppleScript string for osascript', () => {
    expect(appleScriptString('a "b" \\c')).toBe('"a \\"b\\" \\\\c"');
    expect(adminShellCommand('echo "hi"')).toEqual({ file: '/usr/bin/osascript', args: ['-e', 'do shell script "echo \\"hi\\"" with administrator privileges'] });
  });

  it('reads launchctl print and osascript results', async () => {
    expect(parseLaunchctlPrint(ok('system/com.switchyard.service = {\n\tactive count = 1\n\tstate = running\n'))).toBe(true);
    expect(parseLaunchctlPrint(ok('\tstate = not running\n'))).toBe(false);
    expect(parseLaunchctlPrint(exit(113, 'Could not find service'))).toBe(false);
    expect(osascriptOutcome('install', exit(1, '0:56: execution error: User canceled. (-128)'))).toMatchObject({ ok: false, cancelled: true });
    expect(osascriptOutcome('install', ok())).toMatchObject({ ok: true, relogin: true });
    const { c } = ctx({ fileExists: async () => false });
    expect(await new LaunchdInstaller(c).probe()).toEqual({ installed: false, running: false });
  });
});
