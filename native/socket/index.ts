// Picks the ICMP echo socket implementation for this OS (app/os/icmp.ts). Linux only so far; other
// platforms get a factory whose open() throws, so the engine can answer pings itself or drop them.
import type { IcmpEchoFactory, IcmpEchoSocket } from '../../app/os/icmp.js';
import type { SourceBoundSockets } from '../../app/os/socket.js';

/** Sockets bound to a source address with the port picked at connect (app/os/socket.ts); null: not on this OS. */
export async function createSourceBoundSockets(platform: NodeJS.Platform = process.platform): Promise<SourceBoundSockets | null> {
  if (platform !== 'linux') return null;
  const { LinuxSourceBoundSockets } = await import('./linux-bound.js');
  return new LinuxSourceBoundSockets();
}

/** The ICMP echo socket factory for this platform; on Linux, `LinuxIcmpEchoFactory`. */
export async function createIcmpEchoFactory(): Promise<IcmpEchoFactory> {
  if (process.platform === 'linux') {
    const { LinuxIcmpEchoFactory } = await import('./linux-icmp.js');
    return new LinuxIcmpEchoFactory();
  }
  return {
    open(destination: string): IcmpEchoSocket {
      throw new Error(`ICMP echo sockets are not implemented on ${process.platform} (destination ${destination})`);
    },
  };
}
