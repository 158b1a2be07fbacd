// Apps and devices over a fake core bridge: rates and totals, usage history, destinations from live
// sessions, quick rules, and the states.
import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import AppsView from '../../renderer/src/views/AppsView.svelte';
import { Core } from '../../renderer/src/lib/core.svelte.js';
import { TestBridge, app, device, readyCore, session, settle, T0, tick } from './support.js';

let core: Core | null = null;
afterEach(() => { core?.stop(); core = null; });

function bridge() {
  return new TestBridge({
    'apps.list': () => ({ apps: [app('/usr/bin/curl', 'curl'), app('unknown', 'unknown', { kind: 'unknown', exe: '', bytesInPerSec: 0, bytesOutPerSec: 0 })] }),
    'devices.list': () => ({ devices: [device(), device({ address: '192.168.1.5', local: false, hostname: 'nas', mac: 'AA:BB:CC:00:11:22' })] }),
    'usage.query': (p) => ({ resolution: p.resolution, buckets: [{ start: Number(p.since), bytesIn: 1024, bytesOut: 10, packetsIn: 1, packetsOut: 1 }] }),
    'upstreams.list': () => ({ upstreams: [] }),
  });
}

describe('AppsView', () => {
  it('lists apps with live / total sessions, rates and totals in human units', async () => {
    const b = bridge();
    core = await readyCore(b);
    render(AppsView, { core });
    const row = (await screen.findByText('curl')).closest('tr')!;
    expect(within(row).getByText('2 / 5')).toBeTruthy();
    expect(within(row).getByText('1.5 KiB/s')).toBeTruthy();
    expect(within(row).getByText('10.0 MiB')).toBeTruthy();
  });

  it('prefers the latest tick\'s rate for an app', async () => {
    const b = bridge();
    core = await readyCore(b);
    render(AppsView, { core });
    await screen.findByText('curl');
    b.tick(tick(1, T0, {}, { apps: [{ key: '/usr/bin/curl', bytesInPerSec: 3 * 1048576, bytesOutPerSec: 0 }] }));
    await settle();
    expect(within(screen.getByText('curl').closest('tr')!).getByText('3.0 MiB/s')).toBeTruthy();
  });

  it('expands an app to its usage history (usage.query by key, per minute for the last hour) and its destinations', async () => {
    const b = bridge();
    b.sessions = [session(1, { domain: 'example.com' }), session(2, { domain: 'example.com' }), session(3, { dst: '10.0.0.9', dstPort: 22 })];
    core = await readyCore(b);
    render(AppsView, { core });
    await fireEvent.click(await screen.findByRole('button', { name: 'Show details of curl' }));
    await settle();
    const q = b.paramsOf('usage.query')[0]!;
    expect(q).toMatchObject({ app: '/usr/bin/curl', resolution: 'minute' });
    expect(Number(q.until) - Number(q.since)).toBe(3_600_000);
    expect(screen.getByRole('img', { name: /Traffic of curl, last hour, per minute/ })).toBeTruthy();
    expect(screen.getByText('example.com (93.184.216.34:443)').closest('tr')!.textContent).toContain('2');
    expect(screen.getByText('10.0.0.9:22')).toBeTruthy();
    await fireEvent.click(screen.getByRole('radio', { name: 'Last 30 days' }));
    await settle();
    expect(b.paramsOf('usage.query').at(-1)).toMatchObject({ resolution: 'hour' });
  });

  it('makes a block rule by app name from the quick action', async () => {
    const b = bridge();
    b.handlers['rules.dryRun'] = () => ({ moved: [], valid: true });
    core = await readyCore(b);
    render(AppsView, { core });
    await fireEvent.click(await screen.findByRole('button', { name: 'Block curl…' }));
    const dialog = await screen.findByRole('dialog');
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Preview' }));
    await settle();
    expect(b.paramsOf('rules.dryRun')[0]).toMatchObject({ change: { op: 'add', index: 0, rule: { match: { app: { name: 'curl' } }, action: { type: 'block' } } } });
  });

  it('offers no rule for traffic it could not tie to an app', async () => {
    const b = bridge();
    core = await readyCore(b);
    render(AppsView, { core });
    const row = (await screen.findByText('unknown (unknown)')).closest('tr')!;
    expect(within(row).queryByRole('button', { name: /Block/ })).toBeNull();
  });

  it('switches to devices with the arrow keys and makes device rules by address', async () => {
    const b = bridge();
    b.handlers['rules.dryRun'] = () => ({ moved: [], valid: true });
    core = await readyCore(b);
    render(AppsView, { core });
    await screen.findByText('curl');
    await fireEvent.keyDown(screen.getByRole('tab', { name: 'Apps' }), { key: 'ArrowRight' });
    expect(screen.getByRole('tab', { name: 'Devices' }).getAttribute('aria-selected')).toBe('true');
    expect(screen.getByText('This computer')).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Route nas…' }));
    const dialog = await screen.findByRole('dialog');
    await fireEvent.click(within(dialog).getByRole('radio', { name: 'Block' }));
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Preview' }));
    await settle();
    expect(b.paramsOf('rules.dryRun')[0]).toMatchObject({ change: { rule: { match: { device: { cidr: '192.168.1.5/32' } } } } });
  });

  it('says it is loading until the lists come, and what to do when nothing was seen', async () => {
    let answer: (v: unknown) => void = () => {};
    const b = new TestBridge({ 'apps.list': () => new Promise((r) => { answer = r; }) });
    core = await readyCore(b);
    render(AppsView, { core });
    expect(screen.getByText('Loading apps…')).toBeTruthy();
    answer({ apps: [] });
    await vi.waitFor(() => expect(screen.getByText('No apps seen yet')).toBeTruthy());
  });
});
