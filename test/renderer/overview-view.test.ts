// The Overview over a fake core bridge: routing switch, live graph, top apps, health in words,
// and what it says when it is not connected.
import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import OverviewView from '../../renderer/src/views/OverviewView.svelte';
import { Core } from '../../renderer/src/lib/core.svelte.js';
import { ProtocolError } from '../../app/protocol/errors.js';
import { TestBridge, app, device, readyCore, settle, status, T0, tick } from './support.js';

let core: Core | null = null;
afterEach(() => { core?.stop(); core = null; });

describe('OverviewView', () => {
  it('turns routing off with routing.set and says what that means', async () => {
    let routing = true;
    const b = new TestBridge({ status: () => status({ routing }), 'routing.set': (p) => { routing = Boolean(p.enabled); return { routing }; } });
    core = await readyCore(b);
    render(OverviewView, { core });
    const sw = await screen.findByRole('switch', { name: 'Route traffic through Switchyard' });
    expect(sw.getAttribute('aria-checked')).toBe('true');
    await fireEvent.click(sw);
    await settle();
    expect(b.paramsOf('routing.set')).toEqual([{ enabled: false }]);
    expect(sw.getAttribute('aria-checked')).toBe('false');
    expect(screen.getByText(/Off: traffic takes the normal routes/)).toBeTruthy();
  });

  it('shows the service\'s health and its drops in words, problems marked', async () => {
    const b = new TestBridge();
    core = await readyCore(b);
    render(OverviewView, { core });
    await screen.findByText('Switchyard 9.9.9-test (protocol 1)');
    expect(screen.getByText('2m 05s')).toBeTruthy();
    expect(screen.getByText('sy0, MTU 1500, offloads on')).toBeTruthy();
    const limit = screen.getByText(/new connections refused because a session or memory limit was reached/);
    expect(limit.closest('li')?.className).toContain('warn');
    expect(screen.getByText(/packets Switchyard does not handle/)).toBeTruthy();
  });

  it('draws the live rate from ticks and labels it for screen readers in human units', async () => {
    const b = new TestBridge();
    core = await readyCore(b);
    render(OverviewView, { core });
    b.tick(tick(1, T0, {}, { totals: { sessions: 3, bytesIn: 10, bytesOut: 10, bytesInPerSec: 1536, bytesOutPerSec: 512 } }));
    b.tick(tick(2, T0 + 1000, {}, { totals: { sessions: 3, bytesIn: 10, bytesOut: 10, bytesInPerSec: 2_097_152, bytesOutPerSec: 512 } }));
    await settle();
    const chart = screen.getByRole('img', { name: /All traffic over the last 2 minutes/ });
    expect(chart.getAttribute('aria-label')).toBe('All traffic over the last 2 minutes: now down 2.0 MiB/s, up 512 B/s; scale up to 2.0 MiB/s');
  });

  it('lists the busiest apps and devices first', async () => {
    const b = new TestBridge({
      'apps.list': () => ({ apps: [app('/usr/bin/curl', 'curl', { bytesInPerSec: 10 }), app('/usr/bin/firefox', 'firefox', { bytesInPerSec: 5000 })] }),
      'devices.list': () => ({ devices: [device()] }),
    });
    core = await readyCore(b);
    render(OverviewView, { core });
    const card = (await screen.findByRole('heading', { name: 'Top apps' })).parentElement!;
    await vi.waitFor(() => expect(within(card).getAllByRole('listitem').length).toBe(2));
    expect(within(card).getAllByRole('listitem')[0]!.textContent).toContain('firefox');
    expect(screen.getByText('This computer')).toBeTruthy();
  });

  it('tells the user it is not connected and keeps the layout', async () => {
    const b = new TestBridge({ hello: () => { throw new ProtocolError('UNAVAILABLE', 'down'); } });
    core = new Core({ bridge: b, host: 'browser' });
    core.start();
    render(OverviewView, { core });
    expect(await screen.findByText('No live data: not connected to the service')).toBeTruthy();
    expect(screen.getAllByText('Unknown until connected.').length).toBeGreaterThan(0);
  });
});
