// The Rules view over a fake core bridge: list and states, keyboard and button reordering through the
// dry-run preview, enable toggles, the editor with INVALID_RULE errors, explain, upstream health.
import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import RulesView from '../../renderer/src/views/RulesView.svelte';
import { Core } from '../../renderer/src/lib/core.svelte.js';
import { ProtocolError } from '../../app/protocol/errors.js';
import type { RuleSpecWire } from '../../app/protocol/schema.js';
import { TestBridge, readyCore, rule, settle, upstream } from './support.js';

let core: Core | null = null;
afterEach(() => { core?.stop(); core = null; });

/** A bridge whose rule methods change an in-memory list, as the service does. */
function rulesBridge(initial: RuleSpecWire[], extra: Record<string, (p: Record<string, unknown>) => unknown> = {}): TestBridge {
  let rules = [...initial];
  const answer = () => ({ rules, defaultAction: { type: 'direct' }, moved: [] });
  return new TestBridge({
    'rules.list': () => ({ rules, defaultAction: { type: 'direct' } }),
    'rules.dryRun': () => ({ moved: [], valid: true }),
    'rules.move': (p) => {
      const i = rules.findIndex((r) => r.id === p.id);
      const [r] = rules.splice(i, 1);
      rules = [...rules];
      rules.splice(Number(p.index), 0, r!);
      return answer();
    },
    'rules.enable': (p) => { rules = rules.map((r) => (r.id === p.id ? { ...r, enabled: Boolean(p.enabled) } : r)); return answer(); },
    'rules.add': (p) => { rules = [...rules, p.rule as RuleSpecWire]; return answer(); },
    'upstreams.list': () => ({ upstreams: [upstream('corp'), upstream('backup', { state: 'down', error: 'connect ECONNREFUSED' })] }),
    ...extra,
  });
}

const ruleItems = () => screen.getAllByRole('listitem').filter((li) => li.hasAttribute('data-rule-id'));

describe('RulesView', () => {
  it('says it is loading, then lists the rules in order with what they match and do', async () => {
    const b = rulesBridge([rule('a', { name: 'First' }), rule('b', { enabled: false, action: { type: 'block' } })]);
    core = await readyCore(b);
    render(RulesView, { core });
    expect(screen.getByText('Loading rules…')).toBeTruthy();
    await vi.waitFor(() => expect(ruleItems().length).toBe(2));
    const [a, bb] = ruleItems();
    expect(a!.getAttribute('aria-label')).toBe('Rule 1 of 2: First, enabled: app a → direct');
    expect(bb!.getAttribute('aria-label')).toBe('Rule 2 of 2: b, disabled: app b → block');
  });

  it('says what happens without rules', async () => {
    const b = rulesBridge([]);
    core = await readyCore(b);
    render(RulesView, { core });
    expect(await screen.findByText('No rules yet')).toBeTruthy();
  });

  it('moves a focused rule down with Alt+ArrowDown: dry run, preview, then rules.move', async () => {
    const b = rulesBridge([rule('a'), rule('b'), rule('c')]);
    core = await readyCore(b);
    render(RulesView, { core });
    await vi.waitFor(() => expect(ruleItems().length).toBe(3));
    const first = ruleItems()[0]!;
    first.focus();
    await fireEvent.keyDown(first, { key: 'ArrowDown', altKey: true });
    const dialog = await screen.findByRole('dialog', { name: 'Move rule a to position 2' });
    expect(b.paramsOf('rules.dryRun')).toEqual([{ change: { op: 'move', id: 'a', index: 1 } }]);
    expect(within(dialog).getByText(/No live session would move/)).toBeTruthy();
    expect(b.paramsOf('rules.move')).toEqual([]); // nothing changes before Apply
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Apply' }));
    await settle();
    expect(b.paramsOf('rules.move')).toEqual([{ id: 'a', index: 1, applyToLive: false }]);
    expect(ruleItems().map((li) => li.dataset.ruleId)).toEqual(['b', 'a', 'c']);
    expect(document.activeElement).toBe(ruleItems()[1]); // focus follows the moved rule
  });

  it('moves focus between rules with the arrow keys alone, without moving anything', async () => {
    const b = rulesBridge([rule('a'), rule('b')]);
    core = await readyCore(b);
    render(RulesView, { core });
    await vi.waitFor(() => expect(ruleItems().length).toBe(2));
    ruleItems()[0]!.focus();
    await fireEvent.keyDown(ruleItems()[0]!, { key: 'ArrowDown' });
    expect(document.activeElement).toBe(ruleItems()[1]);
    expect(b.paramsOf('rules.dryRun')).toEqual([]);
  });

  it('offers to close the sessions that would move, and Cancel changes nothing', async () => {
    const moved = [{ id: 5, protocol: 'tcp', app: 'curl', dst: '1.2.3.4', dstPort: 443, from: { kind: 'direct', ruleId: null, reason: [] }, to: { kind: 'block', ruleId: 'b', reason: [] } }];
    const b = rulesBridge([rule('a'), rule('b', { action: { type: 'block' } })], { 'rules.dryRun': () => ({ moved, valid: true }) });
    core = await readyCore(b);
    render(RulesView, { core });
    await vi.waitFor(() => expect(ruleItems().length).toBe(2));
    await fireEvent.click(screen.getByRole('button', { name: 'Move rule b up' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText('1 live session would move:')).toBeTruthy();
    expect(within(dialog).getByText('blocked')).toBeTruthy();
    expect(within(dialog).getByRole('button', { name: 'Apply and close those sessions' })).toBeTruthy();
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(b.paramsOf('rules.move')).toEqual([]);
  });

  it('applies "Apply and close those sessions" with applyToLive', async () => {
    const moved = [{ id: 5, protocol: 'tcp', app: 'curl', dst: '1.2.3.4', dstPort: 443, from: { kind: 'direct', ruleId: null, reason: [] }, to: { kind: 'block', ruleId: 'a', reason: [] } }];
    const b = rulesBridge([rule('a', { enabled: false })], { 'rules.dryRun': () => ({ moved, valid: true }) });
    core = await readyCore(b);
    render(RulesView, { core });
    await vi.waitFor(() => expect(ruleItems().length).toBe(1));
    await fireEvent.click(screen.getByRole('switch', { name: 'Rule a enabled' }));
    const dialog = await screen.findByRole('dialog', { name: 'Enable rule a' });
    expect(b.paramsOf('rules.dryRun')).toEqual([{ change: { op: 'enable', id: 'a', enabled: true } }]);
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Apply and close those sessions' }));
    await settle();
    expect(b.paramsOf('rules.enable')).toEqual([{ id: 'a', enabled: true, applyToLive: true }]);
    expect(screen.getByRole('switch', { name: 'Rule a enabled' }).getAttribute('aria-checked')).toBe('true');
  });

  it('shows the service\'s INVALID_RULE lines next to the form and changes nothing', async () => {
    const errors = ['rules[0].match.port: "99999" is not a port (1..65535)', 'rules[0].id: "bad id" is not a valid rule id'];
    const b = rulesBridge([], { 'rules.dryRun': () => { throw new ProtocolError('INVALID_RULE', errors.join('; '), { errors }); } });
    core = await readyCore(b);
    render(RulesView, { core });
    await fireEvent.click(await screen.findByRole('button', { name: 'Add rule' }));
    const form = screen.getByRole('form', { name: 'New rule' });
    await fireEvent.input(within(form).getByRole('textbox', { name: 'Id' }), { target: { value: 'bad id' } });
    await fireEvent.input(within(form).getByRole('textbox', { name: 'Ports' }), { target: { value: '99999' } });
    await fireEvent.click(within(form).getByRole('radio', { name: /Block/ }));
    await fireEvent.submit(form);
    await settle();
    expect(b.paramsOf('rules.dryRun')).toEqual([{ change: { op: 'add', rule: { id: 'bad id', match: { port: 99999 }, action: { type: 'block' } } } }]);
    const alert = within(form).getByRole('alert');
    for (const line of errors) expect(within(alert).getByText(line)).toBeTruthy();
    expect(form.getAttribute('aria-describedby')).toBe(alert.id);
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(b.paramsOf('rules.add')).toEqual([]);
  });

  it('checks the form itself before asking the service (nothing to match)', async () => {
    const b = rulesBridge([]);
    core = await readyCore(b);
    render(RulesView, { core });
    await fireEvent.click(await screen.findByRole('button', { name: 'Add rule' }));
    const form = screen.getByRole('form', { name: 'New rule' });
    await fireEvent.input(within(form).getByRole('textbox', { name: 'Id' }), { target: { value: 'x' } });
    await fireEvent.submit(form);
    expect(within(form).getByRole('alert').textContent).toContain('choose at least one thing to match');
    expect(b.paramsOf('rules.dryRun')).toEqual([]);
  });

  it('adds a rule written as JSON after its preview', async () => {
    const b = rulesBridge([]);
    core = await readyCore(b);
    render(RulesView, { core });
    await fireEvent.click(await screen.findByRole('button', { name: 'Add rule' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Edit as JSON' }));
    const spec = { id: 'no-ads', match: { domain: { keyword: 'ads' } }, action: { type: 'block' } };
    await fireEvent.input(screen.getByRole('textbox', { name: 'Rule as JSON' }), { target: { value: JSON.stringify(spec) } });
    await fireEvent.submit(screen.getByRole('form', { name: 'New rule' }));
    const dialog = await screen.findByRole('dialog', { name: 'Add rule no-ads' });
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Apply' }));
    await settle();
    expect(b.paramsOf('rules.add')).toEqual([{ rule: spec, applyToLive: false }]);
    expect(screen.queryByRole('form')).toBeNull();
    expect(ruleItems().map((li) => li.dataset.ruleId)).toEqual(['no-ads']);
  });

  it('explains a flow with rules.explain and shows which rule decides', async () => {
    const b = rulesBridge([rule('a')], {
      'rules.explain': () => ({
        route: { kind: 'block', ruleId: 'a', reason: ['app is a'] },
        rules: [{ id: 'a', enabled: true, matched: true, chosen: true, reason: ['app name "a" matches'], result: { matched: true, unknown: false, reason: '' } }],
      }),
    });
    core = await readyCore(b);
    render(RulesView, { core });
    const panel = screen.getByRole('region', { name: 'Explain a flow' });
    await fireEvent.input(within(panel).getByRole('textbox', { name: 'Destination address' }), { target: { value: '93.184.216.34' } });
    await fireEvent.input(within(panel).getByRole('textbox', { name: 'App' }), { target: { value: 'a' } });
    await fireEvent.click(within(panel).getByRole('button', { name: 'Explain' }));
    await settle();
    expect(b.paramsOf('rules.explain')).toEqual([{ flow: { protocol: 'tcp', dst: '93.184.216.34', dstPort: 443, srcPort: 0, app: { name: 'a' } } }]);
    expect(within(panel).getByText('blocked, by rule a')).toBeTruthy();
    expect(within(panel).getByText('app name "a" matches')).toBeTruthy();
  });

  it('lists upstreams with their health and checks one on request', async () => {
    const b = rulesBridge([], { 'upstreams.check': (p) => upstream(String(p.name), { state: 'up', latencyMs: 4.2 }) });
    core = await readyCore(b);
    render(RulesView, { core });
    const panel = screen.getByRole('region', { name: 'Upstreams' });
    await vi.waitFor(() => expect(within(panel).getByText('● down')).toBeTruthy());
    expect(within(panel).getByText('connect ECONNREFUSED')).toBeTruthy();
    await fireEvent.click(within(panel).getByRole('button', { name: 'Check backup now' }));
    await settle();
    expect(b.paramsOf('upstreams.check')).toEqual([{ name: 'backup' }]);
    expect(within(panel).getByText('backup is up (4 ms).')).toBeTruthy();
  });
});
