// Stopping Node from reading a socket, so its fd can change hands (the splice relay takes fds that
// Node neither reads nor buffers: native/relay/linux-splice.ts `idle()`).
//
// In Node 20, pause() alone leaves libuv reading an ordinary TCP socket (the bytes pile up in the
// stream's buffer), so the handle's readStop() is called and both "reading" flags are cleared — the
// readable state's one too, or a later resume() would never read again. The Node internals are
// touched only here; the proxy handshakes (upstream-error.ts) and the TCP sniffer (engine/tcp.ts)
// call it, and their tests fail when Node's behaviour changes.
import type net from 'node:net';

interface NodeSocketInternals {
  _handle?: { reading?: boolean; readStop?: () => number } | null;
  _readableState: { reading: boolean };
}

/**
 * Stops reading `sock` at the libuv level and returns what Node had already buffered (empty when
 * nothing). Call after removing every 'data' listener.
 */
export function stopReading(sock: net.Socket): Buffer {
  const internals = sock as unknown as NodeSocketInternals;
  const handle = internals._handle;
  if (handle && handle.reading === true && typeof handle.readStop === 'function') {
    handle.readStop();
    handle.reading = false;
  }
  internals._readableState.reading = false;
  sock.pause();
  const n = sock.readableLength;
  // read(n) with the exact length never emits 'end' early (read() without a size may).
  const rest = n > 0 ? (sock.read(n) as Buffer | null) : null;
  return rest ?? Buffer.alloc(0);
}
