// app/control — the control endpoint on Windows: a named pipe, \\.\pipe\switchyard by default.
// Written to the same ControlTransport interface as the Unix socket; verified on Windows later.
//
// Access: libuv creates the pipe with FILE_FLAG_FIRST_PIPE_INSTANCE (a second service gets
// EADDRINUSE -> "already running") and the default security descriptor, whose DACL gives full access
// to LocalSystem, Administrators and the creator, and only read access to Everyone. A client needs
// read+write, so only elevated callers get in — the Windows counterpart of "root only". Letting a
// "switchyard" group in needs a custom DACL (CreateNamedPipeW through koffi) or an auth token on the
// first message; until then every connection that opens the pipe is allowed, because the OS already
// checked it. Peer process ids (GetNamedPipeClientProcessId) need the pipe HANDLE, which Node does not
// expose, so peers are described generically.
import net from 'node:net';
import type { Logger } from '../log.js';
import { TransportError, type ControlTransport, type PeerAccess } from './transport.js';

/** The pipe namespace prefix on Windows. */
export const PIPE_PREFIX = '\\\\.\\pipe\\';
/** The default pipe name. */
export const DEFAULT_PIPE_NAME = 'switchyard';

/** The full pipe path for a name or a path ("switchyard" -> "\\.\pipe\switchyard"); throws on an invalid name. */
export function pipePath(nameOrPath: string): string {
  const name = nameOrPath.toLowerCase().startsWith(PIPE_PREFIX) ? nameOrPath.slice(PIPE_PREFIX.length) : nameOrPath;
  // Pipe names may hold any character but a backslash, up to 256 characters in all.
  if (name.length === 0 || name.includes('\\') || PIPE_PREFIX.length + name.length > 256) {
    throw new TransportError('LISTEN_FAILED', `"${nameOrPath}" is not a valid pipe name`);
  }
  return PIPE_PREFIX + name;
}

/** Options of the named-pipe transport. */
export interface NamedPipeTransportOptions {
  /** A pipe name or full path; default \\.\pipe\switchyard. */
  pipe?: string;
  log: Logger;
}

/** A control transport on a Windows named pipe; the pipe's DACL is the access check. */
export class NamedPipeTransport implements ControlTransport {
  readonly address: string;
  readonly #server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  readonly #log: Logger;
  #closed = false;

  constructor(opts: NamedPipeTransportOptions) {
    this.address = pipePath(opts.pipe ?? DEFAULT_PIPE_NAME);
    this.#log = opts.log;
  }

  async listen(onConnection: (socket: net.Socket, access: PeerAccess) => void): Promise<void> {
    this.#server.on('connection', (socket) => onConnection(socket, { allowed: true, peer: 'pipe client (checked by the pipe DACL)' }));
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
        ? new TransportError('IN_USE', `another switchyard service is already listening on ${this.address}`)
        : new TransportError('LISTEN_FAILED', `cannot listen on ${this.address}: ${e.message}`));
      this.#server.once('error', onError);
      this.#server.listen(this.address, () => { this.#server.off('error', onError); resolve(); });
    });
    this.#server.on('error', (e) => this.#log.error('control: listener failed', { error: e.message }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => (this.#server.listening ? this.#server.close(() => resolve()) : resolve()));
  }
}
