// Linux SourceBoundSockets (app/os/socket.ts): socket(2) + IP_BIND_ADDRESS_NO_PORT + bind(2) through
// koffi. The fd is handed to Node (new net.Socket({ fd }) + connect) by app/outbound/direct.ts.
import type { SourceBoundSockets } from '../../app/os/socket.js';
import { AF_INET, AF_INET6, IP_BIND_ADDRESS_NO_PORT, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOL_IP, socketLibc } from '../libc.js';
import koffi from 'koffi';

export class LinuxSourceBoundSockets implements SourceBoundSockets {
  readonly #sys = socketLibc();
  readonly #one = new Int32Array([1]);
  readonly #addr = Buffer.alloc(28);

  tcp(family: 4 | 6, address: Uint8Array): number {
    const sys = this.#sys;
    const fd = sys.socket(family === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -koffi.errno();
    if (sys.setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, new Uint8Array(this.#one.buffer), 4) < 0) {
      // Older kernels (< 4.2): still bound, the port picked at bind as Node would.
    }
    const a = this.#addr;
    a.fill(0);
    a.writeUInt16LE(family === 4 ? AF_INET : AF_INET6, 0); // sa_family_t in host order; port 0
    let len = 16;
    if (family === 4) a.set(address, 4);
    else { a.set(address, 8); len = 28; }
    if (sys.bind(fd, a, len) < 0) {
      const e = koffi.errno();
      sys.close(fd);
      return -e;
    }
    return fd;
  }
}
