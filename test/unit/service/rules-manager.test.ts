// RulesManager (app/service/rules-manager.ts): every rule change is validated, saved to the real
// config file (comments kept) before it takes effect, applied to new sessions, optionally to live
// ones; a change that cannot be saved changes nothing; dry runs name the sessions a change would move.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowTable } from '../../../app/flow/flow-table.js';
import { Session } from '../../../app/flow/session.js';
import { FlowRouter, RuleSet } from '../../../app/policy/router.js';
import { UpstreamSet } from '../../../app/outbound/upstreams.js';
import { silentLogger } from '../../../app/log.js';
import { RulesManager } from '../../../app/service/rules-manager.js';
import { ConfigStore } from '../../../app/service/config-store.js';
import { parseConfig } from '../../../app/service/config.js';
import { parseRules, parseAction } from '../../../app/rules/schema.js';
import { isProtocolError } from '../../../app/protocol/index.js';
import type { Engine } from '../../../app/engine/engine.js';

const CONFIG = `# my switchyard
upstreams:
  - { name: corp, type: socks5, address: 10.0.0.2, port: 1080 }

rules:
  # curl through the office
  - id: curl-corp
    match: { app: { name: curl } }
    action: { type: upstream, upstream: corp }
  # no trackers
  - id: no-ads
    match: { domain: { suffix: ads.example } }
    action: { type: block }
defaultAction: { type: direct }
`;

class FakeEngine {
  readonly flows = new FlowTable();
  readonly closed: [number, string][] = [];
  closeSession(id: number, reason: string): boolean { this.closed.push([id, reason]); return true; }
}

describe('RulesManager', () => {
  let dir: string, path: string, engine: FakeEngine, router: FlowRouter, rules: RulesManager;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-rules-'));
    path = join(dir, 'switchyard.yaml');
    await writeFile(path, CONFIG);
    const config = parseConfig(CONFIG);
    const parsed = parseRules(config.rules, 'rules', { upstreams: ['corp'] });
    const action = parseAction(config.defaultAction);
    if (!parsed.ok || !action.ok) throw new Error('bad fixture');
    const upstreams = new UpstreamSet(config.upstreams, () => null, silentLogger);
    upstreams.get('corp')!.state = 'up';
    router = new FlowRouter(new RuleSet(parsed.rules, action.action), { upstreams, domains: null, geo: null, sniff: false });
    engine = new FakeEngine();
    rules = new RulesManager({ specs: config.rules, defaultAction: config.defaultAction, router, engine: engine as unknown as Engine, store: await ConfigStore.open(path, { backup: false }), log: silentLogger });
  });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  function live(app: string, port: number): Session {
    const s = new Session(6, new Uint8Array([198, 18, 0, 1]), 40000 + port, new Uint8Array([203, 0, 113, 5]), port, 0);
    s.state = 1;
    s.app = { kind: 'process', process: { pid: 1, name: app, exe: `/usr/bin/${app}`, cmdline: [], uid: 0, user: 'root' } };
    s.device = { address: '198.18.0.1', local: true };
    s.route = router.decide(s, false).route;
    engine.flows.add(s);
    return s;
  }

  it('adds a rule: saved in the file with every comment kept, in force for the next decision', async () => {
    const out = await rules.apply({ op: 'add', rule: { id: 'block-443', match: { port: 443 }, action: { type: 'block' } }, index: 0 }, false);
    expect(out.rules.map((r) => r.id)).toEqual(['block-443', 'curl-corp', 'no-ads']);
    const text = await readFile(path, 'utf8');
    expect(text).toContain('# curl through the office');
    expect(text).toContain('# no trackers');
    expect(text.startsWith('# my switchyard\n')).toBe(true);
    expect(parseConfig(text).rules.map((r) => r.id)).toEqual(['block-443', 'curl-corp', 'no-ads']);
    const s = new Session(6, new Uint8Array([198, 18, 0, 1]), 1, new Uint8Array([203, 0, 113, 5]), 443, 0);
    s.app = { kind: 'unknown', reason: 'x' };
    expect(router.decide(s, false).route).toMatchObject({ kind: 'block', ruleId: 'block-443' });
  });

  it.each([
    ['update', { op: 'update', id: 'no-ads', rule: { id: 'no-ads', match: { domain: { suffix: 'ads.example' } }, action: { type: 'direct' } } }, ['curl-corp', 'no-ads']],
    ['remove', { op: 'remove', id: 'curl-corp' }, ['no-ads']],
    ['move', { op: 'move', id: 'no-ads', index: 0 }, ['no-ads', 'curl-corp']],
    ['disable', { op: 'enable', id: 'curl-corp', enabled: false }, ['curl-corp', 'no-ads']],
  ] as const)('%s: the file and the running rules agree afterwards', async (_n, change, ids) => {
    await rules.apply(change as never, false);
    const onDisk = parseConfig(await readFile(path, 'utf8'));
    expect(onDisk.rules.map((r) => r.id)).toEqual(ids);
    expect(onDisk.rules).toEqual(rules.list().rules);
  });

  it('a dry run names the live sessions a change would move and changes nothing; applyToLive closes exactly them', async () => {
    const curl = live('curl', 443), py = live('python3', 443), other = live('python3', 80);
    const before = await readFile(path, 'utf8');
    const change = { op: 'add' as const, rule: { id: 'no-443', match: { port: 443 }, action: { type: 'block' as const } }, index: 0 };
    const moved = rules.dryRun(change);
    expect(moved.map((m) => m.id).sort()).toEqual([curl.id, py.id].sort());
    expect(moved.find((m) => m.id === curl.id)).toMatchObject({ app: 'curl', dstPort: 443, from: { kind: 'upstream', upstream: 'corp' }, to: { kind: 'block', ruleId: 'no-443' } });
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(rules.list().rules).toHaveLength(2);
    const out = await rules.apply(change, true);
    expect(out.moved.map((m) => m.id).sort()).toEqual([curl.id, py.id].sort());
    expect(engine.closed.map(([id]) => id).sort()).toEqual([curl.id, py.id].sort());
    expect(engine.closed.every(([, why]) => why === 'rerouted')).toBe(true);
    expect(engine.closed.some(([id]) => id === other.id)).toBe(false);
  });

  it.each([
    ['an invalid rule', { op: 'add', rule: { id: 'bad id', match: { port: 70000 }, action: { type: 'direct' } } }, 'INVALID_RULE', /rules\[2\]\.id: "bad id".*rules\[2\]\.match\.port: 70000/s],
    ['an unknown upstream', { op: 'add', rule: { id: 'x', match: { port: 1 }, action: { type: 'upstream', upstream: 'nope' } } }, 'INVALID_RULE', /rules\[2\]\.action\.upstream: "nope" is not a configured upstream \(corp\)/],
    ['a duplicate id', { op: 'add', rule: { id: 'no-ads', match: { port: 1 }, action: { type: 'direct' } } }, 'RULE_EXISTS', /no-ads/],
    ['a missing rule', { op: 'remove', id: 'ghost' }, 'RULE_NOT_FOUND', /ghost/],
    ['a bad default', { op: 'setDefault', action: { type: 'upstream', upstream: 'nope' } }, 'INVALID_RULE', /defaultAction\.upstream: "nope"/],
  ] as const)('refuses %s with a coded error, and neither the file nor the rules change', async (_n, change, code, message) => {
    const before = await readFile(path, 'utf8');
    const err = await rules.apply(change as never, false).catch((e: unknown) => e);
    expect(isProtocolError(err, code), String(err)).toBe(true);
    const text = code === 'INVALID_RULE' ? ((err as { details: { errors: string[] } }).details.errors.join('\n')) : (err as Error).message;
    expect(text).toMatch(message);
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(rules.list().rules.map((r) => r.id)).toEqual(['curl-corp', 'no-ads']);
  });

  it('a change that cannot be saved is not applied (PERSIST_FAILED), and the file is unchanged', async () => {
    // The config's directory is gone: the new file cannot be written (root ignores permission bits,
    // so a vanished directory is the portable way to make the write fail; the full-disk case is in
    // config-store.test.ts).
    const before = await readFile(path, 'utf8');
    await rm(dir, { recursive: true, force: true });
    const err = await rules.apply({ op: 'remove', id: 'curl-corp' }, false).catch((e: unknown) => e);
    expect(isProtocolError(err, 'PERSIST_FAILED'), String(err)).toBe(true);
    expect(rules.list().rules.map((r) => r.id)).toEqual(['curl-corp', 'no-ads']);
    expect(before).toContain('curl-corp');
  });

  it('refuses to edit by position when the rules in the file were changed by hand since they were loaded', async () => {
    await writeFile(path, CONFIG.replace('id: no-ads', 'id: no-ads-by-hand'));
    const err = await rules.apply({ op: 'remove', id: 'curl-corp' }, false).catch((e: unknown) => e);
    expect(isProtocolError(err, 'PERSIST_FAILED'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/changed by hand/);
    expect(await readFile(path, 'utf8')).toContain('no-ads-by-hand');
  });

  it('explains a described flow and a live session', () => {
    const s = live('curl', 443);
    expect(rules.explain({ sessionId: s.id }).route).toMatchObject({ kind: 'upstream', upstream: 'corp', ruleId: 'curl-corp' });
    const e = rules.explain({ flow: { protocol: 'tcp', dst: '203.0.113.5', dstPort: 443, srcPort: 0, domain: 'x.ads.example' } });
    expect(e.route).toMatchObject({ kind: 'block', ruleId: 'no-ads' });
    expect(e.rules.map((r) => [r.id, r.matched])).toEqual([['curl-corp', false], ['no-ads', true]]);
    expect(() => rules.explain({ flow: { protocol: 'tcp', dst: 'not-an-ip', dstPort: 1, srcPort: 0 } })).toThrow(/flow\.dst/);
    expect(() => rules.explain({ sessionId: 999_999 })).toThrow(/no live session/);
  });

  it('serializes concurrent changes: none is lost', async () => {
    await Promise.all(Array.from({ length: 8 }, (_, i) => rules.apply({ op: 'add', rule: { id: `r${i}`, match: { port: 1000 + i }, action: { type: 'direct' } } }, false)));
    const ids = parseConfig(await readFile(path, 'utf8')).rules.map((r) => r.id);
    expect(ids).toEqual(['curl-corp', 'no-ads', 'r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
  });
});
