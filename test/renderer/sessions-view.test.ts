// The Sessions view over a fake core bridge: states, search/filter/sort, virtualization with 10,000
// rows, keyboard selection, closing a session and the make-a-rule-from-a-session flow.
import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import SessionsView from '../../renderer/src/views/SessionsView.svelte';
import { Core } from '../../renderer/src/lib/core.svelte.js';
import { ProtocolError } from '../../app/protocol/errors.js';
import { TestBridge, readyCore, session, settle, T0, tick, upstream } from './support.js';

let core: Core | null = null;
afterEach(() => { core?.stop(); core = null; });

const bodyRows = () => screen.queryAllByRole('row').filter((r) => r.getAttribute('aria-rowindex') !== '1');

function many(n: number) {
  const apps = ['curl', 'firefox', 'slack', 'ssh'];
  return Array.from({ length: n }, (_, i) => {
    const name = apps[i % apps.length]!;
    return session(i + 1, {
      protocol: i % 5 === 0 ? 'udp' : 'tcp', bytesIn: i * 10, domain: `host${i}.example.com`,
      app: { kind: 'process', pid: i, name, exe: `/usr/bin/${name}`, cmdline: [name], uid: 0, user: 'root' },
    });
  });
}

describe('SessionsView states', () => {
  it('says it is loading while the first list is read', async () => {
    const b = new TestBridge({ 'sessions.list': () => new Promise(() => {}) });
    core = new Core({ bridge: b, host: 'browser' });
    core.start();
    render(SessionsView, { core });
    expect(await screen.findByText('Loading sessions…')).toBeTruthy();
  });

  it('says there are no sessions and what to do when routing is off', async () => {
    const b = new TestBridge({ status: () => ({ ...(new TestBridge().handlers.status!({}) as object), routing: false }) });
    core = await readyCore(b);
    await core.refresh('status');
    render(SessionsView, { core });
    expect(screen.getByText('No live sessions')).toBeTruthy();
    expect(screen.getByText(/Routing is off: turn it on in Overview/)).toBeTruthy();
  });

  it('says it is not connected when the service is down', async () => {
    const b = new TestBridge({ hello: () => { throw new ProtocolError('UNAVAILABLE', 'down'); } });
    core = new Core({ bridge: b, host: 'browser' });
    core.start();
    render(SessionsView, { core });
    expect(await screen.findByText('Not connected to the service')).toBeTruthy();
  });
});

describe('SessionsView table', () => {
  it('renders only a window of rows for 10,000 live sessions, and tells screen readers the full count', async () => {
    const b = new TestBridge();
    b.sessions = many(10_000);
    core = await readyCore(b);
    render(SessionsView, { core });
    const grid = screen.getByRole('grid', { name: 'Live sessions' });
    expect(grid.getAttribute('aria-rowcount')).toBe('10001');
    const rows = bodyRows();
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.length).toBeLessThan(60);
    expect(screen.getByText('10,000 live sessions')).toBeTruthy();
  });

  it('moves the window when the table scrolls', async () => {
    const b = new TestBridge();
    b.sessions = many(10_000);
    core = await readyCore(b);
    render(SessionsView, { core });
    const grid = screen.getByRole('grid');
    Object.defineProperty(grid, 'scrollTop', { value: 32 * 5000, configurable: true });
    await fireEvent.scroll(grid);
    const indexes = bodyRows().map((r) => Number(r.getAttribute('aria-rowindex')));
    expect(Math.min(...indexes)).toBeGreaterThan(4900);
    expect(Math.max(...indexes)).toBeLessThan(5100);
    expect(bodyRows().length).toBeLessThan(60);
  });

  it('filters by search text, protocol and app, and can clear the filters', async () => {
    const b = new TestBridge();
    b.sessions = many(100);
    core = await readyCore(b);
    render(SessionsView, { core });
    await fireEvent.input(screen.getByRole('searchbox', { name: 'Search sessions' }), { target: { value: 'host42.example' } });
    expect(bodyRows().length).toBe(1);
    expect(screen.getByText('1 of 100 live sessions')).toBeTruthy();
    await fireEvent.input(screen.getByRole('searchbox'), { target: { value: '' } });
    await fireEvent.change(screen.getByRole('combobox', { name: 'Protocol' }), { target: { value: 'udp' } });
    expect(screen.getByText('20 of 100 live sessions')).toBeTruthy();
    await fireEvent.change(screen.getByRole('combobox', { name: 'App' }), { target: { value: '/usr/bin/curl' } });
    expect(screen.getByText('5 of 100 live sessions')).toBeTruthy(); // every 5th is udp, every 4th is curl: ids 1, 21, 41, 61, 81
    await fireEvent.click(screen.getAllByRole('button', { name: 'Clear filters' })[0]!);
    expect(screen.getByText('100 live sessions')).toBeTruthy();
  });

  it('shows "no sessions match" with a way out when the filter hides everything', async () => {
    const b = new TestBridge();
    b.sessions = many(10);
    core = await readyCore(b);
    render(SessionsView, { core });
    await fireEvent.input(screen.getByRole('searchbox'), { target: { value: 'nothing-like-this' } });
    expect(screen.getByText('No sessions match')).toBeTruthy();
  });

  it('sorts by a column when its header is clicked, and says so with aria-sort', async () => {
    const b = new TestBridge();
    b.sessions = many(50);
    core = await readyCore(b);
    render(SessionsView, { core });
    await fireEvent.click(screen.getByRole('button', { name: /^Down$/ }));
    const header = screen.getByRole('columnheader', { name: /^Down$/ });
    expect(header.getAttribute('aria-sort')).toBe('descending');
    expect(bodyRows()[0]!.id).toBe('session-row-50'); // most bytes first
    await fireEvent.click(screen.getByRole('button', { name: /^Down$/ }));
    expect(header.getAttribute('aria-sort')).toBe('ascending');
    expect(bodyRows()[0]!.id).toBe('session-row-1');
  });

  it('keeps rows in place and updates their numbers when a tick arrives', async () => {
    const b = new TestBridge();
    b.sessions = [session(1, { bytesIn: 0 })];
    core = await readyCore(b);
    render(SessionsView, { core });
    b.tick(tick(1, T0 + 1000, { updated: [{ id: 1, state: 'established', lastSeen: T0 + 1000, bytesIn: 1536, bytesOut: 100, packetsIn: 2, packetsOut: 1 }] }));
    await settle();
    const row = bodyRows()[0]!;
    expect(within(row).getByText('1.5 KiB')).toBeTruthy();
    b.tick(tick(2, T0 + 2000, { removed: [1] }));
    await settle();
    expect(screen.getByText('No live sessions')).toBeTruthy();
  });

  it('shows route labels, and "pending" while a route is undecided', async () => {
    const b = new TestBridge();
    const pending = session(2);
    delete pending.route;
    b.sessions = [session(1, { route: { kind: 'upstream', upstream: 'corp', ruleId: 'work', reason: [] } }), pending];
    core = await readyCore(b);
    render(SessionsView, { core });
    expect(screen.getByText('via corp')).toBeTruthy();
    expect(screen.getByText('work →')).toBeTruthy();
    expect(screen.getByText('pending')).toBeTruthy();
  });

  it('selects rows with the arrow keys and closes the selected session with Delete', async () => {
    const b = new TestBridge({ 'sessions.close': (p) => ({ id: p.id, closed: true }) });
    b.sessions = many(20);
    core = await readyCore(b);
    render(SessionsView, { core });
    const grid = screen.getByRole('grid');
    grid.focus();
    await fireEvent.keyDown(grid, { key: 'ArrowDown' });
    await fireEvent.keyDown(grid, { key: 'ArrowDown' });
    const selected = screen.getAllByRole('row').find((r) => r.getAttribute('aria-selected') === 'true')!;
    expect(grid.getAttribute('aria-activedescendant')).toBe(selected.id);
    await fireEvent.keyDown(grid, { key: 'Delete' });
    await settle();
    expect(b.paramsOf('sessions.close')).toEqual([{ id: Number(selected.id.replace('session-row-', '')) }]);
    expect(screen.getByText(/^Closed session/)).toBeTruthy();
  });
});

describe('SessionsView: make a rule from a session', () => {
  it('previews with rules.dryRun, then adds the rule first with rules.add, applying to live sessions when asked', async () => {
    const moved = [{ id: 1, protocol: 'tcp', app: 'curl', dst: '93.184.216.34', dstPort: 443, domain: 'example.com',
      from: { kind: 'direct', ruleId: null, reason: [] }, to: { kind: 'upstream', upstream: 'corp', ruleId: 'via-corp-curl', reason: [] } }];
    const b = new TestBridge({
      'upstreams.list': () => ({ upstreams: [upstream('corp')] }),
      'rules.list': () => ({ rules: [], defaultAction: { type: 'direct' } }),
      'rules.dryRun': () => ({ moved, valid: true }),
      'rules.add': (p) => ({ rules: [p.rule], defaultAction: { type: 'direct' }, moved }),
    });
    b.sessions = [session(1, { domain: 'example.com' })];
    core = await readyCore(b);
    render(SessionsView, { core });

    await fireEvent.click(screen.getByRole('button', { name: 'Make a rule from session 1' }));
    const dialog = await screen.findByRole('dialog', { name: 'Make a rule' });
    await vi.waitFor(() => expect((within(dialog).getByRole('radio', { name: /Route via upstream/ }) as HTMLInputElement).disabled).toBe(false));
    await fireEvent.click(within(dialog).getByRole('radio', { name: /Route via upstream/ }));
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Preview' }));
    await within(dialog).findByText('1 live session would move:');

    const rule = { id: 'via-corp-curl', name: 'Route via corp: curl', match: { app: { name: 'curl' } }, action: { type: 'upstream', upstream: 'corp' } };
    expect(b.paramsOf('rules.dryRun')).toEqual([{ change: { op: 'add', rule, index: 0 } }]);

    await fireEvent.click(within(dialog).getByRole('checkbox', { name: /Apply to live sessions/ }));
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Add rule' }));
    await settle();
    expect(b.paramsOf('rules.add')).toEqual([{ rule, index: 0, applyToLive: true }]);
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(screen.getByText(/Added rule via-corp-curl; closed 1 sessions that moved/)).toBeTruthy();
  });

  it('can block the session\'s domain instead, and shows the service\'s refusal in the dialog', async () => {
    const b = new TestBridge({
      'rules.dryRun': () => { throw new ProtocolError('INVALID_RULE', 'bad', { errors: ['rules[0].match.domain.suffix: "exa mple.com" is not a domain name'] }); },
    });
    b.sessions = [session(1, { domain: 'example.com' })];
    core = await readyCore(b);
    render(SessionsView, { core });
    await fireEvent.click(screen.getByRole('button', { name: 'Make a rule from session 1' }));
    const dialog = await screen.findByRole('dialog');
    await fireEvent.click(within(dialog).getByRole('radio', { name: 'example.com and its subdomains' }));
    await fireEvent.click(within(dialog).getByRole('radio', { name: 'Block' }));
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Preview' }));
    await settle();
    expect(b.paramsOf('rules.dryRun')[0]).toMatchObject({ change: { op: 'add', index: 0, rule: { match: { domain: { suffix: 'example.com' } }, action: { type: 'block' } } } });
    expect(within(dialog).getByRole('alert').textContent).toContain('is not a domain name');
    expect(b.paramsOf('rules.add')).toEqual([]);
  });
});
