// native/tun — picks the TUN implementation for this OS. Only Linux exists so far; other platforms
// fail with a clear message at open time rather than at import time.
import type { TunFactory } from '../../app/os/tun.js';
import { LinuxTunFactory, type LinuxTunFactoryOptions } from './linux.js';

/** Returns the TUN factory for `platform` (default: this process's); throws on unsupported OSes. */
export function createTunFactory(options: LinuxTunFactoryOptions = {}, platform: NodeJS.Platform = process.platform): TunFactory {
  switch (platform) {
    case 'linux':
      return new LinuxTunFactory(options);
    default:
      throw new Error(`TUN devices are not supported on ${platform} yet`);
  }
}
