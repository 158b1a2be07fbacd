// Linux SourceBoundSockets (app/os/socket.ts): socket(2) + IP_BIND_ADDRESS_NO_PORT + bind(2) through
// koffi. The fd is handed to Node (new net.Socket({ fd }) + connect) by app/outbound/direct.ts.
import type { SourceBoundSockets } from '../../app/os/socket.js';
import {
  AF_INET, AF_INET6, IP_BIND_ADDRESS_NO_PORT, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOCKADDR_MAX, SOL_IP,
  libc, socketLibc, writeSockaddr,
} from '../libc.js';

const ONE = new Uint8Array(new Int32Array([1]).buffer);

export class LinuxSourceBoundSockets implements SourceBoundSockets {
  readonly #sys = socketLibc();
  readonly #addr = Buffer.alloc(SOCKADDR_MAX);

  tcp(family: 4 | 6, address: Uint8Array): number {
    const sys = this.#sys;
    const fd = sys.socket(family === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -libc().errno();
    // Refused only by kernels older than 4.2: the bind below then picks the port, as Node's would.
    sys.setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, ONE, 4);
    if (sys.bind(fd, this.#addr, writeSockaddr(this.#addr, family, address, 0)) < 0) {
      const e = libc().errno();
      sys.close(fd);
      return -e;
    }
    return fd;
  }
}
