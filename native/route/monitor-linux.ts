// native/route — Linux network change monitor: `ip -o monitor link address route` in the service's
// namespace, debounced, so a network switch, a DHCP renewal or a resume from sleep re-resolves the
// egress and re-applies the routing state. Our own route changes also produce events; the service
// acts only when what it derives (the egress) actually changed, so there is no feedback loop.
import { spawn, type ChildProcess } from 'node:child_process';
import type { NetworkMonitor } from '../../app/os/routing.js';
import { silentLogger, type Logger } from '../../app/log.js';

const DEBOUNCE_MS = 300;
const RESTART_MS = 2000;

/** Watches netlink change notifications through iproute2's monitor. */
export class LinuxNetworkMonitor implements NetworkMonitor {
  #child: ChildProcess | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopped = true;
  readonly #ip: string[];
  readonly #log: Logger;

  constructor(options: { ip?: string[]; log?: Logger } = {}) {
    this.#ip = options.ip ?? ['ip'];
    this.#log = options.log ?? silentLogger;
  }

  start(onChange: () => void): void {
    this.#stopped = false;
    const [cmd, ...pre] = this.#ip;
    const child = spawn(cmd!, [...pre, '-o', 'monitor', 'link', 'address', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.#child = child;
    child.stdout!.on('data', () => {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => { this.#timer = null; if (!this.#stopped) onChange(); }, DEBOUNCE_MS);
    });
    child.on('error', (err) => this.#log.warn('network monitor failed to start; network changes will not be noticed', { error: err.message }));
    child.on('exit', () => {
      if (this.#stopped) return;
      this.#log.warn('network monitor exited; restarting');
      setTimeout(() => { if (!this.#stopped) this.start(onChange); }, RESTART_MS).unref();
    });
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#child?.kill();
    this.#child = null;
  }
}
