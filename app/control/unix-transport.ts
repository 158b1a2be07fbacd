// app/control — the control socket on Linux and macOS: a Unix stream socket at config
// `control.socket`, checked twice: by its file mode and by the peer's kernel credentials.
//
//   listen: mkdir -p the directory (0755, root's)
//           a file at the path? a socket that refuses connections (ECONNREFUSED) is a stale one from
//           a crashed run -> unlink it; one that accepts is a live service -> refuse to start; not a
//           socket at all -> refuse (never delete someone else's file)
//           bind with umask 0177 (the socket is never reachable by others, not even for a moment)
//           chmod 0660 + chown root:GROUP, or 0600 when GROUP does not exist (logged)
//   accept: SO_PEERCRED (native/control) -> uid/gid/pid -> decideAccess (access.ts)
//   close:  unlink the path, only if it is still the socket we bound (same inode)
import net from 'node:net';
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import { decideAccess, groupId, peerFacts, type AccessPolicy, type ReadText } from './access.js';
import { TransportError, type ControlTransport, type PeerAccess } from './transport.js';
import { peerCredentials, type PeerCredentials } from '../../native/control/peer-cred.js';

/** Options of the Unix socket transport. */
export interface UnixSocketTransportOptions {
  socketPath: string;
  /** Members of this group (and root) may connect. */
  group: string;
  log: Logger;
  /** File mode when the group exists (default 0o660). Tests loosen it to reach the credential check. */
  socketMode?: number;
  /** Reads the peer's credentials from an accepted socket's fd (default: the kernel, via koffi). */
  peerCredentials?: (fd: number) => PeerCredentials | string;
  /** Reads /etc/group, /etc/passwd, /proc/PID/status (default: the real files). */
  readText?: ReadText;
}

const readTextFile: ReadText = (path) => { try { return readFileSync(path, 'utf8'); } catch { return null; } };

/** Connects to `path` once: 'live' when something accepts, 'stale' on ECONNREFUSED, 'gone' on ENOENT. */
function probe(path: string): Promise<'live' | 'stale' | 'gone' | string> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    const done = (r: string) => { clearTimeout(timer); s.destroy(); resolve(r); };
    const timer = setTimeout(() => done('live'), 2000); // a listener too busy to accept is still alive
    s.once('connect', () => done('live'));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'stale' : e.code === 'ENOENT' ? 'gone' : (e.code ?? e.message)));
  });
}

/** A control transport on a Unix stream socket with file-mode and peer-credential checks. */
export class UnixSocketTransport implements ControlTransport {
  readonly address: string;
  readonly #opts: UnixSocketTransportOptions;
  readonly #server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  #ino: number | null = null;
  #policy: AccessPolicy | null = null;
  #closed = false;

  constructor(opts: UnixSocketTransportOptions) {
    this.#opts = opts;
    this.address = opts.socketPath;
  }

  async listen(onConnection: (socket: net.Socket, access: PeerAccess) => void): Promise<void> {
    const { socketPath: path, log, group } = this.#opts;
    const readText = this.#opts.readText ?? readTextFile;
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    await this.#clearStale(path);

    const gid = groupId(readText('/etc/group') ?? '', group);
    this.#policy = { groupName: group, gid, serviceUid: process.getuid?.() ?? -1 };
    this.#server.on('connection', (socket) => onConnection(socket, this.#check(socket, readText)));

    // umask() is process-wide and unavailable in worker threads; there the chmod below still applies.
    let oldMask: number | null = null;
    try { oldMask = process.umask(0o177); } catch { /* worker thread */ }
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
          ? new TransportError('IN_USE', `${path} is in use by another process (another switchyard service?)`)
          : new TransportError('LISTEN_FAILED', `cannot listen on ${path}: ${e.message}`));
        this.#server.once('error', onError);
        this.#server.listen(path, () => { this.#server.off('error', onError); resolve(); });
      });
    } finally {
      if (oldMask !== null) process.umask(oldMask);
    }
    this.#server.on('error', (e) => log.error('control: listener failed', { error: e.message }));
    this.#ino = lstatSync(path).ino;

    if (gid === null) {
      chmodSync(path, 0o600);
      log.warn(`control: group "${group}" does not exist; the socket is root-only (0600)`, { socket: path });
      return;
    }
    chmodSync(path, this.#opts.socketMode ?? 0o660);
    try {
      chownSync(path, process.getuid?.() ?? 0, gid);
    } catch (e) {
      // Only root may give a file to a group it is not in; an unprivileged test run keeps its own.
      log.warn(`control: cannot give the socket to group "${group}"`, { socket: path, error: (e as Error).message });
    }
  }

  async #clearStale(path: string): Promise<void> {
    let st;
    try { st = lstatSync(path); } catch { return; }
    if (!st.isSocket()) throw new TransportError('NOT_A_SOCKET', `${path} exists and is not a socket; refusing to replace it`);
    const state = await probe(path);
    if (state === 'live') throw new TransportError('IN_USE', `another switchyard service is already listening on ${path}`);
    if (state === 'stale') {
      this.#opts.log.warn('control: removing a stale socket from an earlier run', { socket: path });
      try { unlinkSync(path); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    } else if (state !== 'gone') {
      throw new TransportError('LISTEN_FAILED', `${path}: cannot tell whether a service is listening (${state})`);
    }
  }

  #check(socket: net.Socket, readText: ReadText): PeerAccess {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    const cred = (this.#opts.peerCredentials ?? peerCredentials)(fd);
    if (typeof cred === 'string') return { allowed: false, peer: `fd ${fd}`, message: `cannot identify the peer: ${cred}` };
    const facts = peerFacts(cred, readText);
    const peer = `uid ${cred.uid} (${facts.user}) gid ${cred.gid} pid ${cred.pid}`;
    const verdict = decideAccess(facts, this.#policy!);
    return verdict.allowed ? { allowed: true, peer: `${peer}: ${verdict.reason}` } : { allowed: false, peer, message: verdict.message };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => (this.#server.listening ? this.#server.close(() => resolve()) : resolve()));
    // server.close() unlinks the path itself in Node; make sure, but never remove a successor's socket.
    try {
      if (this.#ino !== null && lstatSync(this.address).ino === this.#ino) unlinkSync(this.address);
    } catch { /* already gone */ }
  }
}
