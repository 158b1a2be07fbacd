// native/process — picks the attribution implementations (app/os/process.ts) for this OS: Linux
// sock_diag + /proc, Windows IP Helper tables, macOS libproc. Other platforms get a resolver that
// answers every flow with 'unknown' and the reason, so the engine keeps forwarding.
// Implementations are imported lazily: koffi bindings of one OS are never loaded on another.
import type { AppIconSource, Attribution, NeighbourInfo, NeighbourTable, ProcessResolver } from '../../app/os/process.js';
import type { Logger } from '../../app/log.js';
import type { LinuxNeighbourTableOptions } from './neighbours-linux.js';

/** A resolver that knows nothing, with the reason (unsupported platforms). */
class UnsupportedProcessResolver implements ProcessResolver {
  readonly stats = { lookups: 0, hits: 0, unknown: 0, totalMs: 0 };
  constructor(readonly reason: string) {}
  async resolve(): Promise<Attribution> {
    this.stats.lookups++;
    this.stats.unknown++;
    return { kind: 'unknown', reason: this.reason };
  }
  close(): void {}
}

/** Returns the process resolver for `platform` (default: this process's). */
export async function createProcessResolver(log?: Logger, platform: NodeJS.Platform = process.platform): Promise<ProcessResolver> {
  switch (platform) {
    case 'linux': {
      const { LinuxProcessResolver } = await import('./linux.js');
      return log ? new LinuxProcessResolver({ log }) : new LinuxProcessResolver();
    }
    case 'win32': {
      const { WindowsProcessResolver } = await import('./windows.js');
      return log ? new WindowsProcessResolver({ log }) : new WindowsProcessResolver();
    }
    case 'darwin': {
      const { MacosProcessResolver } = await import('./macos.js');
      return log ? new MacosProcessResolver({ log }) : new MacosProcessResolver();
    }
    default:
      log?.warn('process attribution is not implemented on this platform', { platform });
      return new UnsupportedProcessResolver(`process attribution is not implemented on ${platform}`);
  }
}

/** Returns the neighbour table for `platform`; outside Linux it knows only the address. */
/** App icons from the desktop, where the OS has a notion of them; null elsewhere (for now). */
export async function createAppIcons(platform: NodeJS.Platform = process.platform): Promise<AppIconSource | null> {
  if (platform !== 'linux') return null;
  const { LinuxAppIcons } = await import('./icons-linux.js');
  return new LinuxAppIcons();
}

export async function createNeighbourTable(options: LinuxNeighbourTableOptions = {}, platform: NodeJS.Platform = process.platform): Promise<NeighbourTable> {
  if (platform === 'linux') {
    const { LinuxNeighbourTable } = await import('./neighbours-linux.js');
    return new LinuxNeighbourTable(options);
  }
  return {
    async lookup(address: string): Promise<NeighbourInfo> { return { address }; },
    close(): void {},
  };
}
