// main — the tray app's behaviour, with every effect behind an interface: it turns the service
// snapshot into the tray (tray-state.ts, menu-model.ts), asks the OS about the service when the
// socket is down (service-installer.ts decides what to offer), and carries out menu actions.
//
//   ServiceConnection ─ change ─▶ probe when down ─▶ offer ─▶ tray.render(view, menu)
//   tray click ─▶ action ─▶ routing.set | window.show | login item | install/start/grant | quit
import { menuModel, type MenuAction, type MenuItemModel } from './menu-model.js';
import type { LoginItems } from './autostart.js';
import type { ServiceConnection, ServiceSnapshot } from './service-connection.js';
import {
  decideCondition, serviceOffer, socketReach, type InstallOutcome, type ServiceCondition, type ServiceInstaller, type ServiceProbe,
} from './service-installer.js';
import { trayView, type TrayView } from './tray-state.js';

/** The tray as the controller drives it. */
export interface TrayPort { render(view: TrayView, menu: MenuItemModel[]): void }

/** Message boxes. */
export interface DialogPort {
  /** Resolves true when the user chose `ok`. */
  confirm(message: string, detail: string, ok: string): Promise<boolean>;
  info(message: string, detail: string): Promise<void>;
  error(message: string, detail: string): Promise<void>;
}

/** Everything the controller acts on. */
export interface ControllerDeps {
  service: Pick<ServiceConnection, 'snapshot' | 'onChange' | 'setRouting' | 'retryNow'>;
  installer: ServiceInstaller | null;
  loginItems: LoginItems;
  tray: TrayPort;
  dialogs: DialogPort;
  window: { show(): void };
  quit(): void;
  /** How often the OS is asked again while the socket stays down (default 30 s). */
  probeIntervalMs?: number;
}

/** The tray app's behaviour; see the file header. */
export class DesktopController {
  readonly #d: ControllerDeps;
  #startAtLogin = false;
  #probe: ServiceProbe | null = null;
  #busy = false;
  #probeTimer: NodeJS.Timeout | null = null;
  #probing: Promise<void> | null = null;
  #off: (() => void) | null = null;

  constructor(deps: ControllerDeps) { this.#d = deps; }

  /** The condition the menu is built from. */
  get condition(): ServiceCondition { return decideCondition(socketReach(this.#d.service.snapshot), this.#probe); }

  /** Reads the login item, renders, and follows the service from now on. */
  async start(): Promise<void> {
    this.#startAtLogin = await this.#d.loginItems.get().catch(() => false);
    this.#off = this.#d.service.onChange((s) => this.#onService(s));
    this.#onService(this.#d.service.snapshot);
  }

  /** Stops following the service. */
  stop(): void {
    this.#off?.();
    this.#off = null;
    this.#stopProbing();
  }

  /** The tray's menu now (what render() last showed). */
  menu(): MenuItemModel[] {
    const snapshot = this.#d.service.snapshot;
    const offer = serviceOffer(this.condition, this.#d.installer);
    return menuModel({ service: snapshot, offer, startAtLogin: this.#startAtLogin, busy: this.#busy });
  }

  /** Carries out a menu click. */
  async act(action: MenuAction): Promise<void> {
    switch (action) {
      case 'toggle-routing': {
        const s = this.#d.service.snapshot;
        if (!s.connected || s.routing === null) return;
        await this.#d.service.setRouting(!s.routing).catch(() => { /* the snapshot's error shows it */ });
        return;
      }
      case 'open-window':
        this.#d.window.show();
        return;
      case 'toggle-start-at-login':
        try {
          await this.#d.loginItems.set(!this.#startAtLogin);
          this.#startAtLogin = await this.#d.loginItems.get();
        } catch (e) {
          await this.#d.dialogs.error('Could not change "Start at login"', e instanceof Error ? e.message : String(e));
        }
        this.#render();
        return;
      case 'install-service':
      case 'start-service':
      case 'grant-access':
        await this.#runInstaller(action);
        return;
      case 'quit':
        this.stop();
        this.#d.quit();
        return;
    }
  }

  async #runInstaller(action: 'install-service' | 'start-service' | 'grant-access'): Promise<void> {
    const installer = this.#d.installer;
    if (!installer || this.#busy) return;
    if (action === 'install-service') {
      const go = await this.#d.dialogs.confirm(
        'Install the Switchyard service?',
        'Switchyard routes traffic through a system service that runs with administrator rights. You will be asked for an administrator password once.',
        'Install',
      );
      if (!go) return;
    }
    this.#busy = true;
    this.#render();
    let outcome: InstallOutcome;
    try {
      outcome = action === 'install-service' ? await installer.install() : action === 'start-service' ? await installer.start() : await installer.grantAccess();
    } catch (e) {
      outcome = { ok: false, cancelled: false, message: e instanceof Error ? e.message : String(e) };
    }
    this.#busy = false;
    if (outcome.ok) {
      this.#d.service.retryNow();
      await this.#refreshProbe();
      await this.#d.dialogs.info(action === 'grant-access' ? 'Access granted' : 'Switchyard service', outcome.message);
    } else {
      this.#render();
      if (!outcome.cancelled) await this.#d.dialogs.error('The Switchyard service could not be set up', outcome.message);
    }
  }

  #onService(s: ServiceSnapshot): void {
    if (s.connected) {
      this.#stopProbing();
      this.#render();
      return;
    }
    this.#render();
    void this.#refreshProbe();
    if (!this.#probeTimer && this.#d.installer) {
      this.#probeTimer = setInterval(() => { void this.#refreshProbe(); }, this.#d.probeIntervalMs ?? 30_000);
      this.#probeTimer.unref?.();
    }
  }

  async #refreshProbe(): Promise<void> {
    const installer = this.#d.installer;
    if (!installer) return;
    if (this.#probing) return this.#probing;
    this.#probing = (async () => {
      try { this.#probe = await installer.probe(); } catch { this.#probe = null; }
      this.#probing = null;
      this.#render();
    })();
    return this.#probing;
  }

  #stopProbing(): void {
    if (this.#probeTimer) clearInterval(this.#probeTimer);
    this.#probeTimer = null;
  }

  #render(): void {
    this.#d.tray.render(trayView(this.#d.service.snapshot), this.menu());
  }
}
