// main/installers — Linux: systemd. The app runs `pkexec <helper> <op> …`: polkit asks for an
// administrator's password once, then the root helper (build/linux/switchyard-helper.sh, shipped in
// resources/service/linux) installs the unit build/linux/switchyard.service, the
// /usr/local/bin/switchyard launcher, /etc/switchyard/switchyard.yaml when missing, creates the
// `switchyard` group, adds the user and runs `systemctl enable --now`. The detection runs unprivileged:
// `systemctl show -p LoadState -p ActiveState switchyard.service`.
import path from 'node:path';
import {
  firstLine, type ExecResult, type InstallContext, type InstallOutcome, type ServiceInstaller, type ServiceProbe,
} from '../service-installer.js';

/** The unit's name. */
export const LINUX_UNIT = 'switchyard.service';
/** Files the helper needs, relative to InstallContext.serviceResourcesDir. */
export const LINUX_UNIT_FILE = 'linux/switchyard.service';
export const LINUX_HELPER_FILE = 'linux/switchyard-helper.sh';

/** pkexec's exit codes when the user dismissed the dialog (126) or is not authorised (127). */
const PKEXEC_CANCELLED = 126, PKEXEC_NOT_AUTHORIZED = 127;

/** A helper operation. */
export type LinuxHelperOp = 'install' | 'start' | 'grant';

/** The pkexec command line of a helper operation. */
export function linuxHelperCommand(op: LinuxHelperOp, ctx: Pick<InstallContext, 'user' | 'service' | 'serviceResourcesDir'>): { file: string; args: string[] } {
  const helper = path.join(ctx.serviceResourcesDir, LINUX_HELPER_FILE);
  switch (op) {
    case 'install':
      return {
        file: 'pkexec',
        args: [helper, 'install', '--user', ctx.user, '--unit', path.join(ctx.serviceResourcesDir, LINUX_UNIT_FILE), '--exe', ctx.service.exe, '--script', ctx.service.script],
      };
    case 'start':
      return { file: 'pkexec', args: [helper, 'start'] };
    case 'grant':
      return { file: 'pkexec', args: [helper, 'grant', '--user', ctx.user] };
  }
}

/** Reads `systemctl show -p LoadState -p ActiveState` output. */
export function parseSystemctlShow(stdout: string): ServiceProbe {
  const props = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) props.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const load = props.get('LoadState'), active = props.get('ActiveState');
  if (!load) return { installed: null, running: null, detail: 'systemctl said nothing about the unit' };
  if (load === 'not-found') return { installed: false, running: false };
  if (load === 'masked') return { installed: true, running: active === 'active', detail: 'the unit is masked' };
  return { installed: true, running: active === 'active' || active === 'activating' || active === 'reloading', detail: `${load}/${active ?? '?'}` };
}

/** The outcome of a pkexec run. */
export function pkexecOutcome(op: LinuxHelperOp, r: ExecResult): InstallOutcome {
  if (r.code === 0) {
    if (op === 'start') return { ok: true, message: 'The Switchyard service is starting.', relogin: false };
    return {
      ok: true,
      relogin: true,
      message: op === 'install'
        ? 'The Switchyard service is installed and running. Log out and back in once so that your account\'s new group (switchyard) lets the app control it.'
        : 'You were added to the switchyard group. Log out and back in so that it takes effect.',
    };
  }
  if (r.code === PKEXEC_CANCELLED || r.code === PKEXEC_NOT_AUTHORIZED) {
    return { ok: false, cancelled: true, message: 'Authorisation was cancelled or refused; nothing was changed.' };
  }
  if (r.error) return { ok: false, cancelled: false, message: `Could not run pkexec (${r.error}). Is polkit installed? Otherwise run: sudo switchyard up --config /etc/switchyard/switchyard.yaml` };
  return { ok: false, cancelled: false, message: `The service helper failed (exit ${r.code}): ${firstLine(r.stderr, r.stdout) || 'no output'}` };
}

/** systemd + pkexec. */
export class SystemdInstaller implements ServiceInstaller {
  readonly platform = 'linux' as const;
  readonly canGrantAccess = true;
  readonly #ctx: InstallContext;
  constructor(ctx: InstallContext) { this.#ctx = ctx; }

  async probe(): Promise<ServiceProbe> {
    const r = await this.#ctx.exec('systemctl', ['show', '-p', 'LoadState', '-p', 'ActiveState', LINUX_UNIT]);
    if (r.error || r.code !== 0) return { installed: null, running: null, detail: `systemctl: ${r.error ?? firstLine(r.stderr) ?? `exit ${r.code}`}` };
    return parseSystemctlShow(r.stdout);
  }

  async install(): Promise<InstallOutcome> {
    if (this.#ctx.appImage) {
      return {
        ok: false, cancelled: false,
        message: 'The AppImage cannot host the system service (its files disappear when it exits). Install the .deb or the .tar.gz build, or run: sudo switchyard up --config FILE',
      };
    }
    return this.#run('install');
  }

  start(): Promise<InstallOutcome> { return this.#run('start'); }
  grantAccess(): Promise<InstallOutcome> { return this.#run('grant'); }

  async #run(op: LinuxHelperOp): Promise<InstallOutcome> {
    const { file, args } = linuxHelperCommand(op, this.#ctx);
    return pkexecOutcome(op, await this.#ctx.exec(file, args));
  }
}
