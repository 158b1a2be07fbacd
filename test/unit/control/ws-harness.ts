// Test harness: a control server whose only endpoint is a WebSocketTransport behind a bare loopback
// HTTP server (no web-ui policy), and raw `ws` clients that see every frame and the close code.
import http from 'node:http';
import { WebSocket } from 'ws';
import { startControlServer, type ControlServer, type ControlServerOptions } from '../../../app/control/server.js';
import type { ControlTransport } from '../../../app/control/transport.js';
import { WebSocketTransport } from '../../../app/control/ws-transport.js';
import { silentLogger } from '../../../app/log.js';
import { WS_SUBPROTOCOL } from '../../../app/ui/ws-protocol.js';
import { fakeHandlers } from './fakes.js';

/** A main transport that never produces a connection (the server under test is WebSocket-only). */
export const NO_SOCKET: ControlTransport = { address: '(none)', listen: async () => {}, close: async () => {} };

export interface WsServer { control: ControlServer; transport: WebSocketTransport; http: http.Server; url: string; close(): Promise<void> }

/** A control server reachable at ws://127.0.0.1:PORT/ through a WebSocketTransport. */
export async function startWsServer(opts: Partial<ControlServerOptions> = {}, heartbeatMs = 0): Promise<WsServer> {
  const control = await startControlServer({
    socketPath: '(none)', group: 'root', handlers: fakeHandlers().handlers, log: silentLogger, version: '0.1.0-test', transport: NO_SOCKET, ...opts,
  });
  const transport = new WebSocketTransport({ address: 'ws test', subprotocol: WS_SUBPROTOCOL, log: silentLogger, heartbeatMs });
  await control.attach(transport);
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => transport.handleUpgrade(req, socket, head, `test ${req.socket.remotePort}`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}/`;
  return {
    control, transport, http: server, url,
    close: async () => { await control.close(); server.closeAllConnections(); await new Promise((r) => server.close(r)); },
  };
}

export interface RawWs {
  ws: WebSocket;
  send(msg: unknown): void;
  next(): Promise<any>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
}

/** A raw client: JSON in, parsed messages out in order. */
export async function rawWs(url: string, protocols: string[] = [WS_SUBPROTOCOL]): Promise<RawWs> {
  const ws = new WebSocket(url, protocols);
  // Listeners first: a message may arrive in the same read as the handshake's answer.
  const queue: unknown[] = [];
  const waiters: ((m: unknown) => void)[] = [];
  ws.on('message', (data, isBinary) => {
    const m = JSON.parse(isBinary ? '"binary!"' : data.toString());
    const w = waiters.shift();
    if (w) w(m); else queue.push(m);
  });
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  ws.on('error', () => {});
  return {
    ws, closed,
    send: (msg) => ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)),
    next: () => new Promise<any>((resolve, reject) => {
      if (queue.length) return resolve(queue.shift());
      const t = setTimeout(() => reject(new Error('no message within 5 s')), 5000);
      waiters.push((m) => { clearTimeout(t); resolve(m); });
    }),
  };
}
