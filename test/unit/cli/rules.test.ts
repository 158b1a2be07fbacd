// The rule commands of the CLI (app/cli/rules.ts, the rule formatting in format.ts and the error
// reporting in control.ts), driven through main(argv, io, { connect }) against the fake handlers:
// the exact params each command sends, its output, usage errors and the service's coded errors.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../app/cli/main.js';
import { actionLabel, formatExplanation, formatRules, formatSessions, matchSummary, routeLabel } from '../../../app/cli/format.js';
import { parseActionText, parseRate } from '../../../app/cli/rules.js';
import { ProtocolError, type ExplanationWire, type RuleSpecWire, type SessionMove } from '../../../app/protocol/index.js';
import { T0, fakeControlSession, fakeHandlers, session } from '../control/fakes.js';

type Fake = ReturnType<typeof fakeHandlers>;

/** Runs the CLI against `h`; `connected` tells whether it reached the service at all. */
async function cli(argv: string[], h: Fake = fakeHandlers()) {
  let stdout = '', stderr = '', connected = false;
  const f = fakeControlSession(h);
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  const code = await main(argv, io, { now: () => T0 + 125_000, connect: async () => { connected = true; return f.session; } });
  return { code, stdout, stderr, connected, calls: h.calls, closed: f.isClosed() };
}

/** The params of every logged call of `method` (the fakes log "method {json}"). */
function sent(calls: string[], method: string): unknown[] {
  return calls.filter((c) => c.startsWith(`${method} `)).map((c) => JSON.parse(c.slice(method.length + 1)));
}

const MOVE: SessionMove = {
  id: 7, protocol: 'tcp', app: 'curl', dst: '93.184.216.34', dstPort: 443, domain: 'example.com',
  from: { kind: 'upstream', upstream: 'corp', ruleId: 'curl-corp', reason: [] }, to: { kind: 'direct', ruleId: null, reason: [] },
};

/** Fake handlers whose rules.list answers `rules` (and the default) instead of the one built-in rule. */
function withRules(rules: RuleSpecWire[], h: Fake = fakeHandlers()): Fake {
  h.handlers['rules.list'] = () => { h.calls.push('rules.list'); return { rules, defaultAction: { type: 'upstream', upstream: 'corp', fallback: 'direct' } }; };
  return h;
}

const RULES: RuleSpecWire[] = [
  { id: 'no-ads', name: 'ad blocker', match: { domain: { keyword: 'ads' } }, action: { type: 'block', mode: 'drop' } },
  { id: 'curl-corp', match: { app: { name: 'curl' } }, action: { type: 'upstream', upstream: 'corp', fallback: 'block' } },
  { id: 'web', match: { all: [{ app: { name: ['curl', 'wget'] } }, { port: [443, '8000-8999'] }] }, action: { type: 'direct' }, rateLimitBytesPerSec: 1_572_864 },
  { id: 'lan', enabled: false, match: { not: { cidr: '10.0.0.0/8' } }, action: { type: 'block' } },
];

describe('rule formatting', () => {
  it.each<[string, unknown, string]>([
    ['an app name', { app: { name: 'curl' } }, 'app curl'],
    ['app names and exes, any case', { app: { name: ['curl', 'wget'], exe: '/usr/bin/*', ignoreCase: true } }, 'app curl,wget or exe /usr/bin/* (any case)'],
    ['a domain suffix', { domain: { suffix: 'example.com' } }, 'domain *.example.com'],
    ['exact, suffix and keyword domains', { domain: { exact: 'a.com', suffix: ['b.com'], keyword: 'ads' } }, 'domain a.com,*.b.com,*ads*'],
    ['users', { user: ['alice', 1000] }, 'user alice,1000'],
    ['devices by address and MAC', { device: { cidr: '192.168.1.0/24', mac: 'aa:bb:cc:dd:ee:ff' } }, 'device 192.168.1.0/24 or mac aa:bb:cc:dd:ee:ff'],
    ['ports', { port: [443, '8000-8999'] }, 'port 443,8000-8999'],
    ['protocols', { protocol: ['tcp', 'udp'] }, 'protocol tcp,udp'],
    ['countries with onUnknown', { country: 'DE', onUnknown: 'match' }, 'country DE (if unknown: match)'],
    ['all', { all: [{ app: { name: 'curl' } }, { port: 443 }] }, 'all(app curl, port 443)'],
    ['any', { any: [{ cidr: '10.0.0.0/8' }, { protocol: 'icmp' }] }, 'any(cidr 10.0.0.0/8, protocol icmp)'],
    ['not', { not: { cidr: '10.0.0.0/8' } }, 'not(cidr 10.0.0.0/8)'],
    ['nesting', { all: [{ not: { domain: { suffix: 'x.org' } } }, { any: [{ port: 80 }, { port: 443 }] }] }, 'all(not(domain *.x.org), any(port 80, port 443))'],
    ['an unknown node, as JSON', { future: 1 }, '{"future":1}'],
  ])('matchSummary: %s', (_, node, text) => { expect(matchSummary(node)).toBe(text); });

  it.each<[Parameters<typeof actionLabel>[0], string]>([
    [{ type: 'direct' }, 'direct'],
    [{ type: 'block' }, 'block'],
    [{ type: 'block', mode: 'reset' }, 'block'],
    [{ type: 'block', mode: 'drop' }, 'block (drop)'],
    [{ type: 'upstream', upstream: 'corp' }, 'upstream corp (fallback block)'],
    [{ type: 'upstream', upstream: 'corp', fallback: 'direct' }, 'upstream corp (fallback direct)'],
  ])('actionLabel(%j) = %s', (action, text) => { expect(actionLabel(action)).toBe(text); });

  it.each<[Parameters<typeof routeLabel>[0], string]>([
    [undefined, 'pending'],
    [{ kind: 'direct', ruleId: null, reason: [] }, 'direct'],
    [{ kind: 'upstream', upstream: 'corp', ruleId: 'r', reason: [] }, 'via corp'],
    [{ kind: 'block', blockMode: 'drop', ruleId: 'r', reason: [] }, 'blocked'],
    [{ kind: 'direct', upstream: 'corp', ruleId: 'r', reason: [], fallback: "upstream 'corp' is down → direct" }, 'direct*'],
  ])('routeLabel(%j) = %s', (route, text) => { expect(routeLabel(route)).toBe(text); });

  it('cuts a long match at 60 characters and says when there are no rules', () => {
    const long = { id: 'many', match: { app: { name: Array.from({ length: 20 }, (_, i) => `app${i}`) } }, action: { type: 'direct' as const } };
    const line = formatRules({ rules: [long], defaultAction: { type: 'direct' } }).split('\n')[1]!;
    expect(line).toContain(`  ${matchSummary(long.match).slice(0, 59)}…  direct`);
    expect(formatRules({ rules: [], defaultAction: { type: 'block' } })).toBe('no rules: every flow takes the default action\ndefault: block\n');
  });

  it('explains a default route with its reasons and no rules', () => {
    expect(formatExplanation({ route: { kind: 'direct', ruleId: null, reason: ['no rule matched'] }, rules: [] }))
      .toBe('route: direct, by the default action (no rule matched)\n  no rule matched\nno rules\n');
  });
});

describe('sessions table', () => {
  it('shows the domain, the route and a footnote when a fallback applied', () => {
    const page = { total: 2, offset: 0, sessions: [
      session(1, { domain: 'rr3---sn-4g5e6nsz.googlevideo.com', route: { kind: 'upstream', upstream: 'corp', ruleId: 'curl-corp', reason: [] } }),
      session(2, { protocol: 'udp', dstPort: 53, route: { kind: 'direct', upstream: 'corp', ruleId: 'curl-corp', reason: [], fallback: "upstream 'corp' is down → direct" } }),
    ] };
    expect(formatSessions(page, T0 + 125_000)).toBe(
      'ID  PROTO  SOURCE              DESTINATION                           ROUTE     STATE        APP   DEVICE          IN    OUT     AGE\n' +
      ' 1  tcp    192.168.1.20:40001  …3---sn-4g5e6nsz.googlevideo.com:443  via corp  established  curl  this host   1000 B  100 B  2m 05s\n' +
      ' 2  udp    192.168.1.20:40002  93.184.216.34:53                      direct*   established  curl  this host  2.0 KiB  200 B  2m 05s\n' +
      'showing 1–2 of 2 sessions\n' +
      '* a fallback: the rule\'s upstream was not used (`switchyard rules explain --session ID` says why)\n');
  });
});

describe('rules list', () => {
  it('`rules` and `rules list` print the rules in order and the default action', async () => {
    const expected =
      '#  ID         ENABLED  MATCH                                   ACTION                               RATE  NAME\n' +
      '0  no-ads     yes      domain *ads*                            block (drop)                               ad blocker\n' +
      '1  curl-corp  yes      app curl                                upstream corp (fallback block)\n' +
      '2  web        yes      all(app curl,wget, port 443,8000-8999)  direct                          1.5 MiB/s\n' +
      '3  lan        no       not(cidr 10.0.0.0/8)                    block\n' +
      'default: upstream corp (fallback direct)\n';
    for (const argv of [['rules'], ['rules', 'list']]) {
      const r = await cli(argv, withRules(RULES));
      expect(r).toMatchObject({ code: 0, stdout: expected, stderr: '', calls: ['rules.list'], closed: true });
    }
  });

  it('--json prints the rules and the default action as they are', async () => {
    const r = await cli(['rules', '--json'], withRules(RULES));
    expect(JSON.parse(r.stdout)).toEqual({ rules: RULES, defaultAction: { type: 'upstream', upstream: 'corp', fallback: 'direct' } });
  });
});

describe('rules add', () => {
  const base = ['rules', 'add', '--id', 'r'];
  it.each<[string, string[], Record<string, unknown>]>([
    ['--app', ['--app', 'curl'], { app: { name: 'curl' } }],
    ['--app list', ['--app', 'curl, firefox*'], { app: { name: ['curl', 'firefox*'] } }],
    ['--exe', ['--exe', '/usr/bin/*'], { app: { exe: '/usr/bin/*' } }],
    ['--user names and uids', ['--user', 'alice,1000'], { user: ['alice', 1000] }],
    ['--device', ['--device', '192.168.1.0/24'], { device: { cidr: '192.168.1.0/24' } }],
    ['--mac', ['--mac', 'aa:bb:cc:dd:ee:ff'], { device: { mac: 'aa:bb:cc:dd:ee:ff' } }],
    ['--cidr list', ['--cidr', '10.0.0.0/8,fd00::/8'], { cidr: ['10.0.0.0/8', 'fd00::/8'] }],
    ['--domain', ['--domain', 'example.com'], { domain: { suffix: 'example.com' } }],
    ['--domain-exact', ['--domain-exact', 'www.example.com'], { domain: { exact: 'www.example.com' } }],
    ['--domain-keyword', ['--domain-keyword', 'ads,track'], { domain: { keyword: ['ads', 'track'] } }],
    ['--port one', ['--port', '443'], { port: 443 }],
    ['--port list, numbers as numbers', ['--port', '443,8000-8999'], { port: [443, '8000-8999'] }],
    ['--protocol', ['--protocol', 'tcp,udp'], { protocol: ['tcp', 'udp'] }],
    ['--country', ['--country', 'DE,FR'], { country: ['DE', 'FR'] }],
    ['several flags: all of them, in table order', ['--port', '443', '--app', 'curl', '--domain', 'example.com'],
      { all: [{ app: { name: 'curl' } }, { domain: { suffix: 'example.com' } }, { port: 443 }] }],
  ])('matcher %s', async (_, flags, match) => {
    const r = await cli([...base, ...flags, '--direct']);
    expect(r.code).toBe(0);
    expect(sent(r.calls, 'rules.add')).toEqual([{ rule: { id: 'r', match, action: { type: 'direct' } }, applyToLive: false }]);
  });

  it.each<[string[], Record<string, unknown>]>([
    [['--direct'], { action: { type: 'direct' } }],
    [['--block'], { action: { type: 'block' } }],
    [['--block', '--drop'], { action: { type: 'block', mode: 'drop' } }],
    [['--via', 'corp'], { action: { type: 'upstream', upstream: 'corp' } }],
    [['--via', 'corp', '--fallback', 'direct'], { action: { type: 'upstream', upstream: 'corp', fallback: 'direct' } }],
    [['--direct', '--name', 'curl stuff', '--disabled'], { action: { type: 'direct' }, name: 'curl stuff', enabled: false }],
    [['--direct', '--rate', '512KiB'], { action: { type: 'direct' }, rateLimitBytesPerSec: 524_288 }],
    [['--direct', '--rate', '1000'], { action: { type: 'direct' }, rateLimitBytesPerSec: 1000 }],
  ])('action and extras %j', async (flags, rest) => {
    const r = await cli([...base, '--app', 'curl', ...flags]);
    expect(sent(r.calls, 'rules.add')).toEqual([{ rule: { id: 'r', match: { app: { name: 'curl' } }, ...rest }, applyToLive: false }]);
  });

  it.each<[string[], Record<string, unknown>]>([
    [[], {}],
    [['--first'], { index: 0 }],
    [['--index', '2'], { index: 2 }],
    [['--apply-live'], { applyToLive: true }],
  ])('placement and live sessions %j', async (flags, params) => {
    const r = await cli([...base, '--app', 'curl', '--direct', ...flags]);
    expect(sent(r.calls, 'rules.add')).toEqual([{ rule: { id: 'r', match: { app: { name: 'curl' } }, action: { type: 'direct' } }, applyToLive: false, ...params }]);
  });

  it('confirms the change and says live sessions keep their route', async () => {
    const r = await cli(['rules', 'add', '--id', 'curl-direct', '--app', 'curl', '--direct', '--first']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe('added rule curl-direct at position 0 of 2 rules; saved, and new sessions follow it now\n' +
      'live sessions keep their route (--apply-live closes those that would now go elsewhere)\n');
  });

  it('takes the whole rule as JSON or YAML with --rule, or from a file with --rule @FILE', async () => {
    const rule = { id: 'git-corp', name: 'git', match: { all: [{ app: { name: 'git' } }, { port: 22 }] }, action: { type: 'upstream', upstream: 'corp' } };
    const dir = await mkdtemp(join(tmpdir(), 'sy-rules-'));
    try {
      const file = join(dir, 'rule.yaml');
      await writeFile(file, 'id: git-corp\nname: git\nmatch:\n  all:\n    - app: { name: git }\n    - port: 22\naction: { type: upstream, upstream: corp }\n');
      for (const text of [JSON.stringify(rule), '{id: git-corp, name: git, match: {all: [{app: {name: git}}, {port: 22}]}, action: {type: upstream, upstream: corp}}', `@${file}`]) {
        const r = await cli(['rules', 'add', '--rule', text, '--index', '1']);
        expect(r.code).toBe(0);
        expect(sent(r.calls, 'rules.add')).toEqual([{ rule, index: 1, applyToLive: false }]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('--apply-live lists the sessions it closed', async () => {
    const h = fakeHandlers();
    h.handlers['rules.add'] = (p) => { h.calls.push(`rules.add ${JSON.stringify(p)}`); return { rules: [p.rule], defaultAction: { type: 'direct' }, moved: [MOVE] }; };
    const r = await cli(['rules', 'add', '--id', 'r', '--app', 'curl', '--direct', '--apply-live'], h);
    expect(r.stdout).toBe('added rule r at position 0 of 1 rule; saved, and new sessions follow it now\n' +
      'closed 1 live session that now goes elsewhere (their apps reconnect):\n' +
      'ID  PROTO  APP   DESTINATION        DOMAIN       ROUTE\n' +
      ' 7  tcp    curl  93.184.216.34:443  example.com  via corp → direct\n');
  });

  it('--json prints the rules after the change and the moved sessions', async () => {
    const r = await cli(['rules', 'add', '--id', 'r', '--app', 'curl', '--block', '--json']);
    expect(JSON.parse(r.stdout)).toEqual({
      rules: [expect.objectContaining({ id: 'curl-corp' }), { id: 'r', match: { app: { name: 'curl' } }, action: { type: 'block' } }],
      defaultAction: { type: 'direct' }, moved: [],
    });
  });
});

describe('rules update, remove, move, enable, disable, default', () => {
  it.each<[string[], string, unknown, string]>([
    [['rules', 'update', 'curl-corp', '--app', 'curl,wget', '--via', 'corp', '--fallback', 'direct'], 'rules.update',
      { id: 'curl-corp', rule: { id: 'curl-corp', match: { app: { name: ['curl', 'wget'] } }, action: { type: 'upstream', upstream: 'corp', fallback: 'direct' } }, applyToLive: false },
      'updated rule curl-corp'],
    [['rules', 'update', 'curl-corp', '--id', 'curl-direct', '--app', 'curl', '--direct'], 'rules.update',
      { id: 'curl-corp', rule: { id: 'curl-direct', match: { app: { name: 'curl' } }, action: { type: 'direct' } }, applyToLive: false },
      'updated rule curl-corp, now curl-direct'],
    [['rules', 'update', 'curl-corp', '--rule', '{match: {port: 22}, action: {type: block}}'], 'rules.update',
      { id: 'curl-corp', rule: { id: 'curl-corp', match: { port: 22 }, action: { type: 'block' } }, applyToLive: false },
      'updated rule curl-corp'],
    [['rules', 'remove', 'curl-corp', '--apply-live'], 'rules.remove', { id: 'curl-corp', applyToLive: true }, 'removed rule curl-corp; 0 rules left'],
    [['rules', 'move', 'curl-corp', '0'], 'rules.move', { id: 'curl-corp', index: 0, applyToLive: false }, 'moved rule curl-corp to position 0 of 1 rule'],
    [['rules', 'enable', 'curl-corp'], 'rules.enable', { id: 'curl-corp', enabled: true, applyToLive: false }, 'enabled rule curl-corp'],
    [['rules', 'disable', 'curl-corp'], 'rules.enable', { id: 'curl-corp', enabled: false, applyToLive: false }, 'disabled rule curl-corp'],
    [['rules', 'default', 'upstream:corp:direct'], 'rules.setDefault', { action: { type: 'upstream', upstream: 'corp', fallback: 'direct' }, applyToLive: false },
      'default action: upstream corp (fallback direct)'],
    [['rules', 'default', 'block:drop', '--apply-live'], 'rules.setDefault', { action: { type: 'block', mode: 'drop' }, applyToLive: true }, 'default action: block (drop)'],
  ])('%j sends %s', async (argv, method, params, confirmation) => {
    const r = await cli(argv);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(sent(r.calls, method)).toEqual([params]);
    expect(r.stdout.split('\n')[0]).toBe(`${confirmation}; saved, and new sessions follow it now`);
  });

  it.each<[string, unknown]>([
    ['direct', { type: 'direct' }],
    ['block', { type: 'block' }],
    ['block:drop', { type: 'block', mode: 'drop' }],
    ['block:reset', { type: 'block', mode: 'reset' }],
    ['upstream:corp', { type: 'upstream', upstream: 'corp' }],
    ['upstream:corp:direct', { type: 'upstream', upstream: 'corp', fallback: 'direct' }],
    ['upstream:corp:block', { type: 'upstream', upstream: 'corp', fallback: 'block' }],
    ['upstream', /is not an action/],
    ['direct:x', /is not an action/],
    ['block:gently', /is not an action/],
    ['upstream:corp:maybe', /is not an action/],
    ['upstream:a:direct:x', /is not an action/],
    ['via', /is not an action/],
  ])('parseActionText(%s)', (text, want) => {
    const got = parseActionText(text);
    if (want instanceof RegExp) expect(got).toMatch(want);
    else expect(got).toEqual(want);
  });

  it.each<[string, number | RegExp]>([
    ['1', 1], ['1048576', 1_048_576], ['512KiB', 524_288], ['1.5MiB/s', 1_572_864], ['2 gib', 2 * 1024 ** 3],
    ['0', /is not a rate/], ['fast', /is not a rate/], ['1MB', /is not a rate/], ['-5', /is not a rate/],
  ])('parseRate(%s)', (text, want) => {
    if (want instanceof RegExp) expect(parseRate(text)).toMatch(want);
    else expect(parseRate(text)).toBe(want);
  });
});

describe('--dry-run', () => {
  it.each<[string[], unknown]>([
    [['rules', 'add', '--id', 'r', '--app', 'curl', '--block', '--first'], { op: 'add', rule: { id: 'r', match: { app: { name: 'curl' } }, action: { type: 'block' } }, index: 0 }],
    [['rules', 'update', 'curl-corp', '--app', 'curl', '--direct'], { op: 'update', id: 'curl-corp', rule: { id: 'curl-corp', match: { app: { name: 'curl' } }, action: { type: 'direct' } } }],
    [['rules', 'remove', 'curl-corp'], { op: 'remove', id: 'curl-corp' }],
    [['rules', 'move', 'curl-corp', '3'], { op: 'move', id: 'curl-corp', index: 3 }],
    [['rules', 'enable', 'curl-corp'], { op: 'enable', id: 'curl-corp', enabled: true }],
    [['rules', 'disable', 'curl-corp', '--apply-live'], { op: 'enable', id: 'curl-corp', enabled: false }],
    [['rules', 'default', 'block'], { op: 'setDefault', action: { type: 'block' } }],
  ])('%j asks rules.dryRun and changes nothing', async (argv, change) => {
    const r = await cli([...argv, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.calls.map((c) => c.split(' ')[0])).toEqual(['rules.dryRun']);
    expect(sent(r.calls, 'rules.dryRun')).toEqual([{ change }]);
  });

  it('prints the sessions that would move', async () => {
    const r = await cli(['rules', 'remove', 'curl-corp', '--dry-run']);
    expect(r.stdout).toBe('dry run: the change is valid; nothing was changed\n' +
      '1 live session would go elsewhere (--apply-live closes them and their apps reconnect):\n' +
      'ID  PROTO  APP   DESTINATION        DOMAIN       ROUTE\n' +
      ' 1  tcp    curl  93.184.216.34:443  example.com  direct → blocked\n');
  });

  it('says so when nothing would move, and --json prints the raw answer', async () => {
    const h = fakeHandlers();
    h.handlers['rules.dryRun'] = (p) => { h.calls.push(`rules.dryRun ${JSON.stringify(p)}`); return { valid: true, moved: [] }; };
    expect((await cli(['rules', 'default', 'direct', '--dry-run'], h)).stdout).toBe('dry run: the change is valid; nothing was changed\nno live session would go elsewhere\n');
    const j = await cli(['rules', 'remove', 'curl-corp', '--dry-run', '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({ valid: true, moved: [{ id: 1, to: { kind: 'block' } }] });
  });
});

describe('usage errors (exit 2, nothing sent)', () => {
  it.each<[string[], RegExp]>([
    [['rules', 'add'], /rules add: give the rule with --rule TEXT, or build it from flags/],
    [['rules', 'add', '--app', 'curl', '--direct'], /--id is required when building a rule from flags/],
    [['rules', 'add', '--id', 'x', '--direct'], /a rule must match something: give at least one of --app, .*use `switchyard rules default`/],
    [['rules', 'add', '--id', 'x', '--app', 'curl'], /a rule needs an action: --direct, --block or --via UPSTREAM/],
    [['rules', 'add', '--id', 'x', '--app', 'curl', '--direct', '--block'], /give one action, not --direct and --block/],
    [['rules', 'add', '--id', 'x', '--app', 'curl', '--direct', '--drop'], /--drop goes with --block/],
    [['rules', 'add', '--id', 'x', '--app', 'curl', '--block', '--fallback', 'direct'], /--fallback goes with --via/],
    [['rules', 'add', '--id', 'x', '--app', 'curl', '--via', 'corp', '--fallback', 'maybe'], /--fallback: "maybe" is not direct or block/],
    [['rules', 'add', '--id', 'x', '--app', 'curl', '--direct', '--rate', 'fast'], /--rate: "fast" is not a rate/],
    [['rules', 'add', '--id', 'x', '--app', 'curl,', '--direct'], /--app: "curl," has an empty item/],
    [['rules', 'add', '--rule', '{}', '--app', 'curl'], /--rule cannot be combined with --app/],
    [['rules', 'add', '--rule', '{id: [x'], /--rule: not valid JSON or YAML: /],
    [['rules', 'add', '--rule', '[1, 2]'], /--rule: is not a rule \(a mapping with id, match and action\)/],
    [['rules', 'add', '--rule', '{id: x, enabeld: false, match: {port: 1}, action: {type: direct}}'], /--rule: unknown key "enabeld" \(a rule has id, name, enabled, match, action, rateLimitBytesPerSec\)/],
    [['rules', 'add', '--rule', '{id: x, match: {port: 1}, action: {type: upstream, upstream: corp, fallbak: direct}}'], /unknown key "fallbak" in action \(a upstream action has type, upstream, fallback\)/],
    [['rules', 'add', '--rule', '@/nonexistent/rule.yaml'], /--rule: cannot read \/nonexistent\/rule.yaml/],
    [['rules', 'add', '--id', 'x', '--app', 'curl', '--direct', '--index', 'last'], /--index: "last" is not a position/],
    [['rules', 'add', '--id', 'x', '--app', 'curl', '--direct', '--index', '1', '--first'], /give --first or --index, not both/],
    [['rules', 'add', '--bogus'], /rules add: unknown option "--bogus"/],
    [['rules', 'update', 'x'], /rules update: give the rule with --rule TEXT/],
    [['rules', 'update'], /rules update: ID is required/],
    [['rules', 'update', 'x', '--index', '1'], /rules update: unknown option "--index"/],
    [['rules', 'remove'], /rules remove: ID is required/],
    [['rules', 'move', 'x'], /rules move: INDEX is required/],
    [['rules', 'move', 'x', 'top'], /rules move: INDEX: "top" is not a position/],
    [['rules', 'enable', 'a', 'b'], /rules enable: unexpected argument "b"/],
    [['rules', 'default'], /rules default: ACTION is required/],
    [['rules', 'default', 'sideways'], /rules default: "sideways" is not an action: direct, block, block:drop, upstream:NAME or upstream:NAME:direct/],
    [['rules', 'explain'], /rules explain: --dst ADDR is required \(or --session ID for a live session\)/],
    [['rules', 'explain', '--dst', '1.1.1.1', '--port', '70000'], /--port: "70000" is not a port/],
    [['rules', 'explain', '--dst', '1.1.1.1', '--protocol', 'sctp'], /--protocol: "sctp" is not one of tcp, udp, icmp/],
    [['rules', 'explain', '--session', '3', '--dst', '1.1.1.1'], /--session cannot be combined with --dst/],
    [['rules', 'explain', '--session', 'abc'], /--session: "abc" is not a session id/],
    [['rules', 'explain', '--dst', '1.1.1.1', '--mac', 'aa:bb:cc:dd:ee:ff'], /--mac needs the device's address too/],
    [['rules', 'bogus'], /rules: unexpected argument "bogus"/],
  ])('%j', async (argv, message) => {
    const r = await cli(argv);
    expect([r.code, r.connected, r.calls]).toEqual([2, false, []]);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/Run "switchyard rules( \w+)? --help" for usage\.\n$/);
  });
});

describe('service errors', () => {
  const refuse = (e: ProtocolError): Fake => {
    const h = fakeHandlers();
    h.handlers['rules.add'] = () => { throw e; };
    h.handlers['rules.dryRun'] = () => { throw e; };
    return h;
  };
  const add = ['rules', 'add', '--id', 'r', '--port', '99999', '--via', 'nowhere'];

  it('INVALID_RULE prints each problem on its own line, exit 2', async () => {
    const errors = ['rules[1].match.port: 99999 is not a port (1..65535)', 'rules[1].action.upstream: "nowhere" is not a configured upstream (corp)'];
    const e = new ProtocolError('INVALID_RULE', errors.join('; '), { errors });
    for (const argv of [add, [...add, '--dry-run']]) {
      const r = await cli(argv, refuse(e));
      expect(r).toMatchObject({ code: 2, stdout: '', closed: true });
      expect(r.stderr).toBe('switchyard: the service refused the rule (nothing was changed):\n' +
        '  rules[1].match.port: 99999 is not a port (1..65535)\n' +
        '  rules[1].action.upstream: "nowhere" is not a configured upstream (corp)\n');
    }
  });

  it('INVALID_RULE without details still exits 2 with its message', async () => {
    const r = await cli(add, refuse(new ProtocolError('INVALID_RULE', 'rules[1].match: is empty')));
    expect(r).toMatchObject({ code: 2, stderr: 'switchyard: invalid rule: rules[1].match: is empty\n' });
  });

  it.each<[ProtocolError, string]>([
    [new ProtocolError('RULE_EXISTS', 'a rule with id "r" already exists', { id: 'r' }), 'switchyard: a rule with id "r" already exists\n'],
    [new ProtocolError('PERSIST_FAILED', 'the change was not saved, so it was not applied: ENOSPC', { error: 'ENOSPC' }),
      'switchyard: the change was not saved, so it was not applied: ENOSPC\nNothing was changed: the running rules and the config file are as they were.\n'],
    [new ProtocolError('UPSTREAM_NOT_FOUND', 'no upstream named "x"', { name: 'x', known: ['corp', 'home'] }), 'switchyard: no upstream named "x" (configured: corp, home)\n'],
    [new ProtocolError('FORBIDDEN', 'user bob is not in group switchyard'), 'switchyard: user bob is not in group switchyard\n'],
  ])('%s: message, exit 1', async (e, stderr) => {
    expect(await cli(add, refuse(e))).toMatchObject({ code: 1, stdout: '', stderr });
  });

  it('RULE_NOT_FOUND: exit 1 with a pointer to the list', async () => {
    for (const argv of [['rules', 'remove', 'nope'], ['rules', 'enable', 'nope'], ['rules', 'move', 'nope', '0'], ['rules', 'update', 'nope', '--port', '1', '--direct']]) {
      expect(await cli(argv)).toMatchObject({ code: 1, stdout: '', stderr: 'switchyard: no rule with id "nope" (`switchyard rules` lists them)\n' });
    }
  });

  it('INVALID_PARAMS lists every issue, exit 2', async () => {
    const h = fakeHandlers();
    h.handlers['rules.explain'] = () => {
      throw new ProtocolError('INVALID_PARAMS', 'rules.explain: flow.dst: is not an address', { issues: [{ path: 'flow.dst', message: 'is not an address' }, { path: 'flow.src', message: 'bad address' }] });
    };
    expect(await cli(['rules', 'explain', '--dst', 'nowhere', '--src', 'x'], h)).toMatchObject({
      code: 2, stderr: 'switchyard: rules.explain: flow.dst: is not an address\n  flow.src: bad address\n',
    });
  });
});

describe('rules explain', () => {
  it.each<[string[], unknown]>([
    [['--dst', '93.184.216.34'], { flow: { protocol: 'tcp', dst: '93.184.216.34', dstPort: 0, srcPort: 0 } }],
    [['--dst', '93.184.216.34', '--port', '443', '--protocol', 'udp', '--src', '192.168.1.20', '--app', 'curl', '--exe', '/usr/bin/curl', '--user', 'alice', '--domain', 'example.com', '--country', 'US'],
      { flow: { protocol: 'udp', dst: '93.184.216.34', dstPort: 443, srcPort: 0, src: '192.168.1.20', app: { name: 'curl', exe: '/usr/bin/curl', user: 'alice' }, domain: 'example.com', country: 'US' } }],
    [['--dst', '1.1.1.1', '--user', '1000'], { flow: { protocol: 'tcp', dst: '1.1.1.1', dstPort: 0, srcPort: 0, app: { uid: 1000 } } }],
    [['--dst', '1.1.1.1', '--device', '192.168.1.33', '--mac', 'aa:bb:cc:dd:ee:ff'],
      { flow: { protocol: 'tcp', dst: '1.1.1.1', dstPort: 0, srcPort: 0, device: { address: '192.168.1.33', mac: 'aa:bb:cc:dd:ee:ff' } } }],
    [['--dst', '1.1.1.1', '--src', '192.168.1.33', '--mac', 'aa:bb:cc:dd:ee:ff'],
      { flow: { protocol: 'tcp', dst: '1.1.1.1', dstPort: 0, srcPort: 0, src: '192.168.1.33', device: { address: '192.168.1.33', mac: 'aa:bb:cc:dd:ee:ff' } } }],
    [['--session', '42'], { sessionId: 42 }],
  ])('%j sends the flow', async (flags, params) => {
    const r = await cli(['rules', 'explain', ...flags]);
    expect(r.code).toBe(0);
    expect(sent(r.calls, 'rules.explain')).toEqual([params]);
  });

  const EXPLANATION: ExplanationWire = {
    route: { kind: 'direct', upstream: 'corp', ruleId: 'curl-corp', reason: ["app name 'curl' matches 'curl'"], fallback: "upstream 'corp' is down → direct", rateLimitBytesPerSec: 1_048_576 },
    rules: [
      { id: 'no-ads', name: 'ad blocker', enabled: true, matched: false, chosen: false, reason: ["domain 'example.com' is not 'ads'"], result: { matched: false, unknown: false, reason: '' } },
      { id: 'old', enabled: false, matched: true, chosen: false, reason: [], result: { matched: true, unknown: false, reason: '' } },
      { id: 'curl-corp', enabled: true, matched: true, chosen: true, reason: ["app name 'curl' matches 'curl'"], result: { matched: true, unknown: false, reason: '' } },
      { id: 'web', enabled: true, matched: true, chosen: false, reason: [], result: { matched: true, unknown: false, reason: 'all matched' } },
    ],
  };

  it('prints the route, the fallback, and every rule with its mark and reasons', async () => {
    const h = fakeHandlers();
    h.handlers['rules.explain'] = () => EXPLANATION;
    const r = await cli(['rules', 'explain', '--dst', '93.184.216.34', '--port', '443', '--app', 'curl'], h);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(
      'route: direct (fallback), by rule curl-corp\n' +
      "  fallback: upstream 'corp' is down → direct\n" +
      '  rate limit: 1.0 MiB/s\n' +
      '\n' +
      'rules, first match wins:\n' +
      '✗ 0  no-ads  ("ad blocker")\n' +
      "     domain 'example.com' is not 'ads'\n" +
      '- 1  old  (disabled, would match)\n' +
      '→ 2  curl-corp\n' +
      "     app name 'curl' matches 'curl'\n" +
      '✓ 3  web\n' +
      '     all matched\n' +
      '\n' +
      '→ decided  ✓ matched too (an earlier rule decided)  ✗ no match  - disabled\n');
  });

  it('--json prints the explanation as it is', async () => {
    const h = fakeHandlers();
    h.handlers['rules.explain'] = () => EXPLANATION;
    expect(JSON.parse((await cli(['rules', 'explain', '--session', '1', '--json'], h)).stdout)).toEqual(EXPLANATION);
  });

  it('SESSION_NOT_FOUND for --session: exit 1', async () => {
    const h = fakeHandlers();
    h.handlers['rules.explain'] = () => { throw new ProtocolError('SESSION_NOT_FOUND', 'no live session with id 9', { id: 9 }); };
    expect(await cli(['rules', 'explain', '--session', '9'], h)).toMatchObject({ code: 1, stderr: 'switchyard: no live session with id 9\n' });
  });
});

describe('help', () => {
  it.each([
    ['rules', 'Usage: switchyard rules [--json]', 'switchyard rules explain'],
    ['rules list', 'Usage: switchyard rules list [--json]', 'switchyard rules default A'],
    ['rules add', 'Usage: switchyard rules add [--rule TEXT] [--id ID]', 'switchyard rules add --id curl-corp --app curl --via corp'],
    ['rules update', 'Usage: switchyard rules update ID [--rule TEXT]', 'switchyard rules update curl-corp --app curl,wget'],
    ['rules remove', 'Usage: switchyard rules remove ID [--apply-live] [--dry-run]', 'switchyard rules remove curl-corp'],
    ['rules move', 'Usage: switchyard rules move ID INDEX', 'switchyard rules move no-ads 0'],
    ['rules enable', 'Usage: switchyard rules enable ID', 'switchyard rules enable curl-corp'],
    ['rules disable', 'Usage: switchyard rules disable ID', 'switchyard rules disable curl-corp'],
    ['rules default', 'Usage: switchyard rules default ACTION', 'switchyard rules default upstream:corp:direct'],
    ['rules explain', 'Usage: switchyard rules explain [--dst ADDR]', 'switchyard rules explain --session 42'],
  ])('%s --help shows usage, options and an example', async (cmd, usageLine, example) => {
    const r = await cli([...cmd.split(' '), '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith(usageLine)).toBe(true);
    expect(r.stdout).toContain(example);
    expect(r.stdout).toContain('--socket PATH');
  });

  it('lists the rule and upstream commands in the global help', async () => {
    const r = await cli(['--help']);
    for (const c of ['rules', 'rules add', 'rules explain', 'rules default', 'upstreams', 'upstreams check']) expect(r.stdout).toContain(`  ${c} `);
  });
});
