// main/installers — the one place that picks the service strategy by platform.
import { servicePlatform, type InstallContext, type ServiceInstaller } from '../service-installer.js';
import { SystemdInstaller } from './linux.js';
import { LaunchdInstaller } from './macos.js';
import { WindowsServiceInstaller } from './windows.js';

/** The installer for `platform` (process.platform), or null where Switchyard has none. */
export function createServiceInstaller(platform: string, ctx: InstallContext): ServiceInstaller | null {
  switch (servicePlatform(platform)) {
    case 'linux': return new SystemdInstaller(ctx);
    case 'darwin': return new LaunchdInstaller(ctx);
    case 'win32': return new WindowsServiceInstaller(ctx);
    case null: return null;
  }
}
