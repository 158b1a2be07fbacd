// Settings (theme, tick interval, connection info), the App shell (navigation, connection banner),
// and the error wording.
import { fireEvent, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import App from '../../renderer/src/App.svelte';
import SettingsView from '../../renderer/src/views/SettingsView.svelte';
import { Core } from '../../renderer/src/lib/core.svelte.js';
import { Prefs } from '../../renderer/src/lib/prefs.svelte.js';
import { describeError, toProtocolError } from '../../renderer/src/lib/errors.js';
import { ProtocolError } from '../../app/protocol/errors.js';
import { TestBridge, readyCore, status } from './support.js';

let core: Core | null = null;
afterEach(() => { core?.stop(); core = null; document.documentElement.removeAttribute('data-theme'); });

function memoryStorage() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), m };
}

describe('SettingsView', () => {
  it('switches the theme, keeps the choice, and the App applies it to the document', async () => {
    const storage = memoryStorage();
    const prefs = new Prefs(storage);
    core = await readyCore(new TestBridge());
    render(App, { core, prefs, initialView: 'settings' });
    expect(document.documentElement.hasAttribute('data-theme')).toBe(false);
    await fireEvent.click(screen.getByRole('radio', { name: 'Dark' }));
    expect(document.documentElement.getAttribute('data-theme')).toBe('dark');
    expect(storage.m.get('switchyard.theme')).toBe('dark');
    expect(new Prefs(storage).theme).toBe('dark');
    await fireEvent.click(screen.getByRole('radio', { name: 'Follow the system' }));
    expect(document.documentElement.hasAttribute('data-theme')).toBe(false);
  });

  it('changes the tick interval by subscribing again', async () => {
    const b = new TestBridge();
    core = await readyCore(b);
    render(SettingsView, { core, prefs: new Prefs(null) });
    await fireEvent.change(screen.getByRole('combobox', { name: 'Update every' }), { target: { value: '5000' } });
    await vi.waitFor(() => expect(b.paramsOf('subscribe').at(-1)).toEqual({ topics: ['tick'], intervalMs: 5000 }));
  });

  it('leaves the tick interval to the desktop app when it owns the subscription', async () => {
    core = await readyCore(Object.assign(new TestBridge(), { fixedTickInterval: true }), 'desktop');
    render(SettingsView, { core, prefs: new Prefs(null) });
    expect((screen.getByRole('combobox', { name: 'Update every' }) as HTMLSelectElement).disabled).toBe(true);
    expect(screen.getByText(/The desktop app sets this for its window/)).toBeTruthy();
  });

  it('turns gateway mode on and off (gateway.set), and says what to do when no LAN interface is configured', async () => {
    let enabled = false;
    const b = new TestBridge({
      status: () => status({ gateway: { enabled, interfaces: ['br0'], ipv6: 'route', dns: 'auto' } }),
      'gateway.set': (p) => { enabled = p.enabled as boolean; return { enabled, interfaces: ['br0'], ipv6: 'route', dns: 'auto' }; },
    });
    core = await readyCore(b);
    render(SettingsView, { core, prefs: new Prefs(null) });
    const sw = await screen.findByRole('switch', { name: 'Route other devices on the LAN through Switchyard' });
    expect(sw.getAttribute('aria-checked')).toBe('false');
    await fireEvent.click(sw);
    await vi.waitFor(() => expect(b.paramsOf('gateway.set').at(-1)).toEqual({ enabled: true }));
    await vi.waitFor(() => expect(screen.getByRole('switch', { name: 'Route other devices on the LAN through Switchyard' }).getAttribute('aria-checked')).toBe('true'));
    core.stop();
    core = await readyCore(new TestBridge({ status: () => status({ gateway: { enabled: false, interfaces: [], ipv6: 'route', dns: 'auto' } }) }));
    document.body.innerHTML = '';
    render(SettingsView, { core, prefs: new Prefs(null) });
    expect(await screen.findByText(/No LAN interfaces are configured/)).toBeTruthy();
  });

  it('shows what it is connected to: host, service and protocol versions', async () => {
    core = await readyCore(new TestBridge(), 'desktop');
    render(SettingsView, { core, prefs: new Prefs(null) });
    expect(screen.getByText('the desktop app')).toBeTruthy();
    expect(screen.getByText('Switchyard 9.9.9-test')).toBeTruthy();
    expect(screen.getByText('service 1, this window 1')).toBeTruthy();
  });
});

describe('App', () => {
  it('navigates between views with buttons that say which is current', async () => {
    core = await readyCore(new TestBridge());
    render(App, { core, prefs: new Prefs(null) });
    expect(screen.getByRole('heading', { level: 1, name: 'Overview' })).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Rules' }));
    expect(screen.getByRole('heading', { level: 1, name: 'Rules' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Rules' }).getAttribute('aria-current')).toBe('page');
  });

  it('explains a lost connection in the banner, with what to do and Retry now', async () => {
    const b = new TestBridge();
    core = await readyCore(b);
    render(App, { core, prefs: new Prefs(null) });
    b.link('disconnected', { code: 'UNAVAILABLE', message: 'the connection to the service was lost' });
    const banner = await screen.findByRole('alert');
    expect(banner.textContent).toContain('Cannot reach the Switchyard service');
    expect(banner.textContent).toContain('Check that the service is running');
    await fireEvent.click(screen.getByRole('button', { name: 'Retry now' }));
    await vi.waitFor(() => expect(core!.connection.phase).toBe('ready'));
    expect(screen.queryByText(/Cannot reach/)).toBeNull();
  });
});

describe('error wording', () => {
  it.each([
    ['desktop', 'FORBIDDEN', 'The service refused this user', 'control group'],
    ['browser', 'FORBIDDEN', 'The service refused this page', '#token='],
    ['browser', 'UNAVAILABLE', 'Cannot reach the Switchyard service', 'reconnects by itself'],
    ['desktop', 'PERSIST_FAILED', 'The change could not be saved', 'Nothing was changed'],
  ] as const)('%s %s → "%s"', (host, code, title, hint) => {
    const p = describeError(new ProtocolError(code, 'x'), host);
    expect(p.title).toBe(title);
    expect(p.hint).toContain(hint);
  });

  it('reads the code out of an Electron IPC error message', () => {
    const e = toProtocolError(new Error("Error invoking remote method 'switchyard:call': SESSION_NOT_FOUND: no live session with id 4"));
    expect(e.code).toBe('SESSION_NOT_FOUND');
    expect(e.message).toBe('no live session with id 4');
  });

  it('lists INVALID_PARAMS issues by path', () => {
    const p = describeError(new ProtocolError('INVALID_PARAMS', 'bad', { issues: [{ path: 'flow.dst', message: 'not an address' }] }), 'browser');
    expect(p.lines).toEqual(['flow.dst: not an address']);
  });
});
