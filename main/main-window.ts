// main — the one app window: created on demand, focused when it exists (a second launch, the tray),
// forgotten when closed. While it exists the IPC bridge pushes to it (and the service subscription
// for ticks is on); closing it detaches, so a tray-only app asks the service for nothing per second.
import type { PushTarget } from './ipc-bridge.js';

/** A window as the edge hands it over. */
export interface WindowHandle extends PushTarget {
  /** Brings it to the front (restoring it when minimised). */
  focus(): void;
  onClosed(listener: () => void): void;
}

/** The part of IpcBridge the window needs. */
export interface WindowFeed { attach(target: PushTarget): void; detach(): void }

/** Creates, focuses and forgets the window. */
export class MainWindow {
  readonly #create: () => WindowHandle;
  readonly #feed: WindowFeed;
  #window: WindowHandle | null = null;

  constructor(create: () => WindowHandle, feed: WindowFeed) {
    this.#create = create;
    this.#feed = feed;
  }

  /** True while the window exists. */
  get isOpen(): boolean { return this.#window !== null; }

  /** Opens the window, or focuses the one that is open. */
  show(): void {
    if (this.#window) { this.#window.focus(); return; }
    const win = this.#create();
    this.#window = win;
    this.#feed.attach(win);
    win.onClosed(() => {
      if (this.#window !== win) return;
      this.#window = null;
      this.#feed.detach();
    });
  }
}
