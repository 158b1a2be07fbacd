// native/route — picks the routing implementation for this OS. Only Linux exists so far; other
// platforms fail with a clear message when the service asks for one.
import type { NetworkInfo, NetworkMonitor, RoutingManager } from '../../app/os/routing.js';
import type { Logger } from '../../app/log.js';
import { LinuxNetworkMonitor } from './monitor-linux.js';
import { LinuxNetworkInfo, LinuxRoutingManager, type LinuxRoutingOptions } from './linux.js';

/** Returns the routing manager for `platform` (default: this process's); throws on unsupported OSes. */
export function createRoutingManager(options: LinuxRoutingOptions, platform: NodeJS.Platform = process.platform): RoutingManager {
  if (platform === 'linux') return new LinuxRoutingManager(options);
  throw new Error(`policy routing is not supported on ${platform} yet`);
}

/** Returns the network information reader for `platform`; throws on unsupported OSes. */
export function createNetworkInfo(options: { ip?: string[] } = {}, platform: NodeJS.Platform = process.platform): NetworkInfo {
  if (platform === 'linux') return new LinuxNetworkInfo(options);
  throw new Error(`network information is not supported on ${platform} yet`);
}

/** Returns the network change monitor for `platform`; throws on unsupported OSes. */
export function createNetworkMonitor(options: { log?: Logger } = {}, platform: NodeJS.Platform = process.platform): NetworkMonitor {
  if (platform === 'linux') return new LinuxNetworkMonitor(options);
  throw new Error(`network change monitoring is not supported on ${platform} yet`);
}
