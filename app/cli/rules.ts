// app/cli — `switchyard rules …` and `switchyard upstreams …`: list, change and explain the running
// service's rules (ordered, first match wins) and show its upstream proxies. The CLI checks only the
// shape of what the user typed (flags, numbers, one action); the service validates the rule itself
// and answers INVALID_RULE with one line per problem, so both places never disagree.
//
//   flags / --rule TEXT ─▶ RuleChange ─┬─▶ rules.add | update | remove | move | enable | setDefault
//                                      └─▶ rules.dryRun (--dry-run: the sessions that would move; nothing changes)
//
// Every change is saved to the config file by the service and applies to new sessions at once;
// --apply-live also closes the live sessions that would now go elsewhere (their apps reconnect).
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import {
  RuleActionSchema, RuleSpecSchema, SESSION_PROTOCOLS,
  type FlowDescription, type MethodParams, type MethodResult, type RuleActionSpec, type RuleChange, type RuleSpecWire,
} from '../protocol/index.js';
import type { ControlKit, ControlSession } from './control.js';
import { actionLabel, formatExplanation, formatMoves, formatRules, formatUpstreams } from './format.js';
import type { CliContext, Command, OptionSpec } from './main.js';

const EXIT_OK = 0, EXIT_FAILURE = 1;

type Values = CliContext['values'];
type ChangeResult = MethodResult<'rules.add'>;

/** A matcher flag: its comma-separated values become one leaf of the rule's match. */
interface MatcherFlag { value: string; help: string; leaf(values: (string | number)[]): Record<string, unknown> }

/** One value alone, several as a list: the form users write in the config file. */
const oneOrMany = <T>(v: T[]): T | T[] => (v.length === 1 ? v[0]! : v);
/** "443" -> 443 and "1000" -> 1000 (ports, uids); anything else stays text for the service to judge. */
const numeric = (v: string | number): string | number => (typeof v === 'string' && /^\d{1,10}$/.test(v) ? Number(v) : v);

/** The matcher flags in the order their leaves appear in the rule; several must all match. */
export const MATCHER_FLAGS: Record<string, MatcherFlag> = {
  app: { value: 'NAMES', help: 'process names (globs), e.g. curl,firefox*', leaf: (v) => ({ app: { name: oneOrMany(v) } }) },
  exe: { value: 'PATHS', help: 'executable paths (globs: * within a directory, ** across), e.g. /usr/bin/*', leaf: (v) => ({ app: { exe: oneOrMany(v) } }) },
  user: { value: 'NAMES', help: 'users running the app, names or uids, e.g. alice,1000', leaf: (v) => ({ user: oneOrMany(v.map(numeric)) }) },
  device: { value: 'CIDRS', help: 'source devices by address, e.g. 192.168.1.0/24', leaf: (v) => ({ device: { cidr: oneOrMany(v) } }) },
  mac: { value: 'MACS', help: 'source devices by MAC address, e.g. aa:bb:cc:dd:ee:ff', leaf: (v) => ({ device: { mac: oneOrMany(v) } }) },
  cidr: { value: 'CIDRS', help: 'destination addresses, e.g. 10.0.0.0/8,fd00::/8', leaf: (v) => ({ cidr: oneOrMany(v) }) },
  domain: { value: 'SUFFIXES', help: 'destination domains with their subdomains, e.g. example.com', leaf: (v) => ({ domain: { suffix: oneOrMany(v) } }) },
  'domain-exact': { value: 'NAMES', help: 'destination domains, exactly, e.g. www.example.com', leaf: (v) => ({ domain: { exact: oneOrMany(v) } }) },
  'domain-keyword': { value: 'WORDS', help: 'destination domains containing a word, e.g. ads', leaf: (v) => ({ domain: { keyword: oneOrMany(v) } }) },
  port: { value: 'PORTS', help: 'destination ports and ranges, e.g. 443,8000-8999', leaf: (v) => ({ port: oneOrMany(v.map(numeric)) }) },
  protocol: { value: 'PROTOS', help: 'tcp, udp or icmp, e.g. tcp,udp', leaf: (v) => ({ protocol: oneOrMany(v) }) },
  country: { value: 'CODES', help: 'destination countries (ISO codes, from GeoIP), e.g. DE,FR', leaf: (v) => ({ country: oneOrMany(v) }) },
};

/** Flags that say what the rule does and what it is called (everything --rule TEXT replaces). */
const RULE_FLAGS: Record<string, OptionSpec> = {
  id: { type: 'string', value: 'ID', help: 'the rule\'s id (letters, digits, "_", ".", "-")' },
  name: { type: 'string', value: 'TEXT', help: 'a description shown in lists' },
  ...Object.fromEntries(Object.entries(MATCHER_FLAGS).map(([flag, m]) => [flag, { type: 'string', value: m.value, help: m.help } satisfies OptionSpec])),
  direct: { type: 'boolean', help: 'action: connect directly' },
  block: { type: 'boolean', help: 'action: block (TCP is reset, UDP gets an ICMP error)' },
  drop: { type: 'boolean', help: 'with --block: drop silently instead' },
  via: { type: 'string', value: 'UPSTREAM', help: 'action: go through this upstream proxy (see `switchyard upstreams`)' },
  fallback: { type: 'string', value: 'F', help: 'with --via: direct or block (default) when the upstream is down' },
  rate: { type: 'string', value: 'RATE', help: 'limit each session to RATE bytes/s, e.g. 1048576, 512KiB, 1.5MiB' },
  disabled: { type: 'boolean', help: 'save the rule disabled' },
};

const RULE_TEXT: OptionSpec = { type: 'string', value: 'TEXT', help: 'the whole rule as JSON or YAML, or @FILE to read it from a file' };

/** A rule given whole with --rule: JSON or YAML text (YAML accepts JSON), or @FILE. */
async function ruleFromText(text: string): Promise<Record<string, unknown> | string> {
  let source = text;
  if (text.startsWith('@')) {
    try { source = await readFile(text.slice(1), 'utf8'); } catch (e) { return `cannot read ${text.slice(1)}: ${(e as Error).message}`; }
  }
  let value: unknown;
  try { value = parseYaml(source); } catch (e) { return `not valid JSON or YAML: ${String((e as Error).message).split('\n')[0]}`; }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'is not a rule (a mapping with id, match and action)';
  // The protocol's rule shape drops keys it does not know; a typo like "enabeld" must not vanish silently.
  const rule = value as Record<string, unknown>;
  const known = Object.keys(RuleSpecSchema.shape);
  const extra = Object.keys(rule).filter((k) => !known.includes(k));
  if (extra.length) return `unknown key "${extra[0]}" (a rule has ${known.join(', ')})`;
  const action = rule.action;
  if (action !== null && typeof action === 'object' && !Array.isArray(action)) {
    const type = (action as Record<string, unknown>).type;
    const shape = RuleActionSchema.options.find((o) => o.shape.type.value === type)?.shape;
    const bad = shape ? Object.keys(action).find((k) => !(k in shape)) : undefined;
    if (bad !== undefined) return `unknown key "${bad}" in action (a ${String(type)} action has ${Object.keys(shape!).join(', ')})`;
  }
  return rule;
}

/** "1048576", "512KiB", "1.5MiB/s" -> bytes per second; a message otherwise. */
export function parseRate(text: string): number | string {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kib|mib|gib)?(?:\/s)?$/i.exec(text.trim());
  const bytes = m ? Math.round(Number(m[1]) * { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b']) : NaN;
  return bytes >= 1 ? bytes : `"${text}" is not a rate in bytes per second (like 1048576, 512KiB or 1.5MiB)`;
}

/** The action from --direct / --block [--drop] / --via UPSTREAM [--fallback F]; a message when not exactly one. */
function actionFromFlags(v: Values): RuleActionSpec | string {
  const given = ['direct', 'block', 'via'].filter((f) => v[f] !== undefined);
  if (v.drop && !v.block) return '--drop goes with --block';
  if (v.fallback !== undefined && v.via === undefined) return '--fallback goes with --via';
  if (given.length !== 1) {
    return given.length === 0 ? 'a rule needs an action: --direct, --block or --via UPSTREAM' : `give one action, not ${given.map((f) => `--${f}`).join(' and ')}`;
  }
  if (v.direct) return { type: 'direct' };
  if (v.block) return v.drop ? { type: 'block', mode: 'drop' } : { type: 'block' };
  const fallback = v.fallback as string | undefined;
  if (fallback !== undefined && fallback !== 'direct' && fallback !== 'block') return `--fallback: "${fallback}" is not direct or block`;
  return { type: 'upstream', upstream: v.via as string, ...(fallback !== undefined ? { fallback } : {}) };
}

/**
 * A rule from the builder flags: each matcher flag is one leaf; several are `{ all: [...] }`.
 * A message when a part is missing or malformed.
 */
export function ruleFromFlags(v: Values, id: string | undefined): RuleSpecWire | string {
  if (id === undefined) return '--id is required when building a rule from flags';
  const leaves: Record<string, unknown>[] = [];
  for (const [flag, m] of Object.entries(MATCHER_FLAGS)) {
    const text = v[flag] as string | undefined;
    if (text === undefined) continue;
    const values = text.split(',').map((s) => s.trim());
    if (values.some((s) => s === '')) return `--${flag}: "${text}" has an empty item`;
    leaves.push(m.leaf(values));
  }
  if (leaves.length === 0) {
    return `a rule must match something: give at least one of ${Object.keys(MATCHER_FLAGS).map((f) => `--${f}`).join(', ')} ` +
      '(for what happens to every other flow, use `switchyard rules default`)';
  }
  const action = actionFromFlags(v);
  if (typeof action === 'string') return action;
  const rule: RuleSpecWire = { id, match: leaves.length === 1 ? leaves[0]! : { all: leaves }, action };
  if (v.name !== undefined) rule.name = v.name as string;
  if (v.disabled) rule.enabled = false;
  if (v.rate !== undefined) {
    const rate = parseRate(v.rate as string);
    if (typeof rate === 'string') return `--rate: ${rate}`;
    rule.rateLimitBytesPerSec = rate;
  }
  return rule;
}

/** The rule of `rules add` / `rules update ID`, from --rule or from the builder flags; a message when neither works. */
async function ruleOf(ctx: CliContext, keepId?: string): Promise<RuleSpecWire | string> {
  const v = ctx.values;
  const built = Object.keys(RULE_FLAGS).filter((f) => v[f] !== undefined);
  if (v.rule === undefined) {
    if (built.length === 0) return 'give the rule with --rule TEXT, or build it from flags: --id, a matcher (--app, --domain, …) and an action (--direct, --block or --via)';
    return ruleFromFlags(v, (v.id as string | undefined) ?? keepId);
  }
  if (built.length) return `--rule cannot be combined with --${built[0]} (give the whole rule in --rule, or build it from flags)`;
  const rule = await ruleFromText(v.rule as string);
  if (typeof rule === 'string') return `--rule: ${rule}`;
  if (rule.id === undefined && keepId !== undefined) rule.id = keepId;
  return rule as RuleSpecWire;
}

/** "direct", "block", "block:drop", "upstream:NAME", "upstream:NAME:direct" -> an action; a message otherwise. */
export function parseActionText(text: string): RuleActionSpec | string {
  const [type, a, b, ...rest] = text.split(':');
  const bad = `"${text}" is not an action: direct, block, block:drop, upstream:NAME or upstream:NAME:direct`;
  if (rest.length) return bad;
  if (type === 'direct' && a === undefined) return { type: 'direct' };
  if (type === 'block' && b === undefined) {
    if (a === undefined) return { type: 'block' };
    return a === 'drop' || a === 'reset' ? { type: 'block', mode: a } : bad;
  }
  if (type === 'upstream' && a) {
    if (b === undefined) return { type: 'upstream', upstream: a };
    return b === 'direct' || b === 'block' ? { type: 'upstream', upstream: a, fallback: b } : bad;
  }
  return bad;
}

/** Sends a change to the method of the same name. */
function send(c: ControlSession, change: RuleChange, applyToLive: boolean): Promise<ChangeResult> {
  switch (change.op) {
    case 'add': return c.api.rulesAdd({ rule: change.rule, ...(change.index !== undefined ? { index: change.index } : {}), applyToLive });
    case 'update': return c.api.rulesUpdate({ id: change.id, rule: change.rule, applyToLive });
    case 'remove': return c.api.rulesRemove({ id: change.id, applyToLive });
    case 'move': return c.api.rulesMove({ id: change.id, index: change.index, applyToLive });
    case 'enable': return c.api.rulesEnable({ id: change.id, enabled: change.enabled, applyToLive });
    case 'setDefault': return c.api.rulesSetDefault({ action: change.action, applyToLive });
  }
}

/** The confirmation line of an applied change. */
function confirmation(change: RuleChange, r: ChangeResult): string {
  const n = r.rules.length;
  const of = `of ${n} rule${n === 1 ? '' : 's'}`;
  switch (change.op) {
    case 'add': return `added rule ${change.rule.id} at position ${r.rules.findIndex((x) => x.id === change.rule.id)} ${of}`;
    case 'update': return `updated rule ${change.id}${change.rule.id !== change.id ? `, now ${change.rule.id}` : ''}`;
    case 'remove': return `removed rule ${change.id}; ${n} rule${n === 1 ? '' : 's'} left`;
    case 'move': return `moved rule ${change.id} to position ${r.rules.findIndex((x) => x.id === change.id)} ${of}`;
    case 'enable': return `${change.enabled ? 'enabled' : 'disabled'} rule ${change.id}`;
    case 'setDefault': return `default action: ${actionLabel(r.defaultAction)}`;
  }
}

/** Applies `change` (or, with --dry-run, asks what it would move) and reports it. */
function runChange(kit: ControlKit, ctx: CliContext, change: RuleChange): Promise<number> {
  const applyToLive = ctx.values['apply-live'] === true;
  const out = (text: string) => ctx.io.stdout.write(text);
  return kit.withService(ctx, async (c) => {
    if (ctx.values['dry-run']) {
      const r = await c.api.rulesDryRun({ change });
      if (ctx.values.json) return kit.printJson(ctx, r);
      out('dry run: the change is valid; nothing was changed\n');
      const n = r.moved.length;
      out(n === 0 ? 'no live session would go elsewhere\n'
        : `${n} live session${n === 1 ? '' : 's'} would go elsewhere (--apply-live closes them and their apps reconnect):\n${formatMoves(r.moved)}`);
      return EXIT_OK;
    }
    const r = await send(c, change, applyToLive);
    if (ctx.values.json) return kit.printJson(ctx, r);
    out(`${confirmation(change, r)}; saved, and new sessions follow it now\n`);
    const n = r.moved.length;
    if (!applyToLive) out('live sessions keep their route (--apply-live closes those that would now go elsewhere)\n');
    else out(n === 0 ? 'no live session had to move\n' : `closed ${n} live session${n === 1 ? '' : 's'} that now go${n === 1 ? 'es' : ''} elsewhere (their apps reconnect):\n${formatMoves(r.moved)}`);
    return EXIT_OK;
  });
}

/** A 0-based index from text; a message otherwise. */
function parseIndex(flag: string, text: string): number | string {
  return /^\d{1,6}$/.test(text) ? Number(text) : `${flag}: "${text}" is not a position (0 = first)`;
}

/** The flow of `rules explain` from its flags, or its --session; a message when they do not describe one. */
export function explainParams(v: Values): MethodParams<'rules.explain'> | string {
  const flowFlags = ['dst', 'port', 'protocol', 'src', 'app', 'exe', 'user', 'domain', 'country', 'device', 'mac'].filter((f) => v[f] !== undefined);
  if (v.session !== undefined) {
    if (!/^\d+$/.test(v.session as string)) return `--session: "${v.session as string}" is not a session id (a number)`;
    if (flowFlags.length) return `--session cannot be combined with --${flowFlags[0]} (the session's own flow is explained)`;
    return { sessionId: Number(v.session) };
  }
  if (v.dst === undefined) return '--dst ADDR is required (or --session ID for a live session)';
  const protocol = (v.protocol as string | undefined) ?? 'tcp';
  if (!(SESSION_PROTOCOLS as readonly string[]).includes(protocol)) return `--protocol: "${protocol}" is not one of ${SESSION_PROTOCOLS.join(', ')}`;
  const flow: FlowDescription = { protocol: protocol as FlowDescription['protocol'], dst: v.dst as string, dstPort: 0, srcPort: 0 };
  if (v.port !== undefined) {
    const port = v.port as string;
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return `--port: "${port}" is not a port (0..65535)`;
    flow.dstPort = Number(port);
  }
  if (v.src !== undefined) flow.src = v.src as string;
  const app: NonNullable<FlowDescription['app']> = {};
  if (v.app !== undefined) app.name = v.app as string;
  if (v.exe !== undefined) app.exe = v.exe as string;
  if (v.user !== undefined) { const u = numeric(v.user as string); if (typeof u === 'number') app.uid = u; else app.user = u; }
  if (Object.keys(app).length) flow.app = app;
  if (v.device !== undefined || v.mac !== undefined) {
    const address = (v.device as string | undefined) ?? (v.src as string | undefined);
    if (address === undefined) return '--mac needs the device\'s address too: --device ADDR (or --src ADDR)';
    flow.device = { address, ...(v.mac !== undefined ? { mac: v.mac as string } : {}) };
  }
  if (v.domain !== undefined) flow.domain = v.domain as string;
  if (v.country !== undefined) flow.country = v.country as string;
  return { flow };
}

const str = (value: string, help: string): OptionSpec => ({ type: 'string', value, help });

/** `switchyard rules …`, handed the shared control helpers by control.ts. */
export function rulesCommands(kit: ControlKit): Command[] {
  const { connection, json, accessNote } = kit;
  const change: Record<string, OptionSpec> = {
    'apply-live': { type: 'boolean', help: 'also close live sessions that would now go elsewhere (their apps reconnect)' },
    'dry-run': { type: 'boolean', help: 'only show the live sessions that would go elsewhere; change nothing' },
    json, ...connection,
  };
  const changeNote = 'The service checks the change, saves it to its config file and applies it to new sessions at once;\n' +
    'live sessions keep their route unless --apply-live. --dry-run shows which live sessions would move.';
  const builderHelp =
    'Give the whole rule as JSON or YAML with --rule (or --rule @FILE), or build it from flags: --id, the\n' +
    'matchers (comma-separated lists; several flags must all match) and exactly one action: --direct,\n' +
    '--block [--drop] or --via UPSTREAM [--fallback direct|block]. The format of `match` is that of the\n' +
    'config file\'s rules: all/any/not of app, user, device, cidr, domain, port, protocol, country.';
  const list: Command['run'] = (ctx) => kit.withService(ctx, async (c) => {
    const r = await c.api.rulesList();
    if (ctx.values.json) return kit.printJson(ctx, r);
    ctx.io.stdout.write(formatRules(r));
    return EXIT_OK;
  });
  const listDescription =
    'Prints the rules in the order they are tried (the first that matches decides), then the action for\n' +
    'flows no rule matches. Change them with:\n' +
    '  switchyard rules add        add a rule             switchyard rules update ID  replace a rule\n' +
    '  switchyard rules remove ID  remove a rule          switchyard rules move ID N  move it to position N\n' +
    '  switchyard rules enable ID  / disable ID           switchyard rules default A  the default action\n' +
    '  switchyard rules explain    why a flow goes where it goes\n' +
    `${accessNote}`;
  const byId = (run: (ctx: CliContext, id: string) => RuleChange | string, name: string): Command['run'] => (ctx) => {
    const c = run(ctx, ctx.positionals[0]!);
    return typeof c === 'string' ? Promise.resolve(kit.usage(ctx, name, c)) : runChange(kit, ctx, c);
  };
  return [
    { words: ['rules'], summary: 'list the routing rules in order, and the default action', description: listDescription, options: { json, ...connection }, run: list },
    { words: ['rules', 'list'], summary: 'list the routing rules in order, and the default action', description: listDescription, options: { json, ...connection }, run: list },
    {
      words: ['rules', 'add'],
      summary: 'add a routing rule (last, or at --index / --first)',
      description: `${builderHelp}\n${changeNote}\nExamples:\n` +
        '  switchyard rules add --id curl-corp --app curl --via corp\n' +
        '  switchyard rules add --id no-ads --domain-keyword ads --block --first\n' +
        '  switchyard rules add --id lan-tv --device 192.168.1.50 --port 443,8000-8999 --direct --rate 2MiB\n' +
        '  switchyard rules add --rule \'{id: ssh-corp, match: {port: 22}, action: {type: upstream, upstream: corp}}\'\n' +
        accessNote,
      options: { rule: RULE_TEXT, ...RULE_FLAGS, index: str('N', 'insert at position N (0 = first; default: last)'), first: { type: 'boolean', help: 'insert first (same as --index 0)' }, ...change },
      run: async (ctx) => {
        const rule = await ruleOf(ctx);
        if (typeof rule === 'string') return kit.usage(ctx, 'rules add', rule);
        if (ctx.values.first && ctx.values.index !== undefined) return kit.usage(ctx, 'rules add', 'give --first or --index, not both');
        let index: number | undefined = ctx.values.first ? 0 : undefined;
        if (ctx.values.index !== undefined) {
          const i = parseIndex('--index', ctx.values.index as string);
          if (typeof i === 'string') return kit.usage(ctx, 'rules add', i);
          index = i;
        }
        return runChange(kit, ctx, { op: 'add', rule, ...(index !== undefined ? { index } : {}) });
      },
    },
    {
      words: ['rules', 'update'],
      summary: 'replace the rule with this ID, keeping its position',
      description: `${builderHelp}\nBuilder flags replace the whole rule (it keeps ID unless --id gives a new one, and is enabled\nunless --disabled); with --rule, a rule without an id keeps ID.\n${changeNote}\nExamples:\n` +
        '  switchyard rules update curl-corp --app curl,wget --via corp --fallback direct\n' +
        '  switchyard rules update curl-corp --rule @curl-corp.yaml\n' +
        accessNote,
      options: { rule: RULE_TEXT, ...RULE_FLAGS, ...change },
      positionals: [{ name: 'ID', help: 'the rule to replace' }],
      run: async (ctx) => {
        const id = ctx.positionals[0]!;
        const rule = await ruleOf(ctx, id);
        if (typeof rule === 'string') return kit.usage(ctx, 'rules update', rule);
        return runChange(kit, ctx, { op: 'update', id, rule });
      },
    },
    {
      words: ['rules', 'remove'],
      summary: 'remove the rule with this ID',
      description: `${changeNote}\nExample: switchyard rules remove curl-corp --apply-live\n${accessNote}`,
      options: change,
      positionals: [{ name: 'ID', help: 'the rule to remove' }],
      run: byId((_, id) => ({ op: 'remove', id }), 'rules remove'),
    },
    {
      words: ['rules', 'move'],
      summary: 'move the rule with this ID to position INDEX (0 = first)',
      description: `Rules are tried in order; the first that matches decides.\n${changeNote}\nExample: switchyard rules move no-ads 0\n${accessNote}`,
      options: change,
      positionals: [{ name: 'ID', help: 'the rule to move' }, { name: 'INDEX', help: 'its new position, 0 = first' }],
      run: byId((ctx, id) => {
        const index = parseIndex('INDEX', ctx.positionals[1]!);
        return typeof index === 'string' ? index : { op: 'move', id, index };
      }, 'rules move'),
    },
    {
      words: ['rules', 'enable'],
      summary: 'enable the rule with this ID',
      description: `${changeNote}\nExample: switchyard rules enable curl-corp\n${accessNote}`,
      options: change,
      positionals: [{ name: 'ID', help: 'the rule to enable' }],
      run: byId((_, id) => ({ op: 'enable', id, enabled: true }), 'rules enable'),
    },
    {
      words: ['rules', 'disable'],
      summary: 'disable the rule with this ID (it stays in place, matching nothing)',
      description: `${changeNote}\nExample: switchyard rules disable curl-corp --apply-live\n${accessNote}`,
      options: change,
      positionals: [{ name: 'ID', help: 'the rule to disable' }],
      run: byId((_, id) => ({ op: 'enable', id, enabled: false }), 'rules disable'),
    },
    {
      words: ['rules', 'default'],
      summary: 'set the action for flows no rule matches',
      description: 'ACTION is direct, block (reset), block:drop, upstream:NAME (falls back to block when NAME is\n' +
        `down) or upstream:NAME:direct (falls back to direct).\n${changeNote}\n` +
        `Examples: switchyard rules default upstream:corp:direct\n          switchyard rules default block --dry-run\n${accessNote}`,
      options: change,
      positionals: [{ name: 'ACTION', help: 'direct, block, block:drop, upstream:NAME or upstream:NAME:direct' }],
      run: (ctx) => {
        const action = parseActionText(ctx.positionals[0]!);
        if (typeof action === 'string') return Promise.resolve(kit.usage(ctx, 'rules default', action));
        return runChange(kit, ctx, { op: 'setDefault', action });
      },
    },
    {
      words: ['rules', 'explain'],
      summary: 'show which rule a flow matches and why, with every rule\'s answer',
      description:
        'Describe the flow with --dst and whatever else is known (what is not given is unknown to the rules,\n' +
        'and each rule says how it treats that), or give --session ID to explain a live session.\n' +
        'Marks: → decided, ✓ matched too (an earlier rule decided), ✗ no match, - disabled.\n' +
        'Examples:\n' +
        '  switchyard rules explain --dst 93.184.216.34 --port 443 --app curl --domain example.com\n' +
        '  switchyard rules explain --session 42\n' +
        accessNote,
      options: {
        dst: str('ADDR', 'destination address (required unless --session)'),
        port: str('N', 'destination port'),
        protocol: str('PROTO', 'tcp (default), udp or icmp'),
        src: str('ADDR', 'source address'),
        app: str('NAME', 'the app\'s process name'),
        exe: str('PATH', 'the app\'s executable path'),
        user: str('NAME', 'the user running the app (name or uid)'),
        domain: str('NAME', 'the destination\'s domain'),
        country: str('CC', 'the destination\'s country (ISO code)'),
        device: str('ADDR', 'the device the flow comes from (default: this host)'),
        mac: str('MAC', 'that device\'s MAC address'),
        session: str('ID', 'explain this live session instead (from `switchyard sessions`)'),
        json, ...connection,
      },
      run: (ctx) => {
        const params = explainParams(ctx.values);
        if (typeof params === 'string') return Promise.resolve(kit.usage(ctx, 'rules explain', params));
        return kit.withService(ctx, async (c) => {
          const r = await c.api.rulesExplain(params);
          if (ctx.values.json) return kit.printJson(ctx, r);
          ctx.io.stdout.write(formatExplanation(r));
          return EXIT_OK;
        });
      },
    },
  ];
}

/** `switchyard upstreams …`, handed the shared control helpers by control.ts. */
export function upstreamsCommands(kit: ControlKit): Command[] {
  const { connection, json, accessNote } = kit;
  const description = 'Shows each configured upstream proxy: where it is, whether it needs auth and relays UDP, its\n' +
    'health (up, down or unknown until checked), the last check\'s latency, the flows it carried and the\n' +
    'failed ones. `switchyard upstreams check NAME` checks one now.\n' + accessNote;
  const list: Command['run'] = (ctx) => kit.withService(ctx, async (c) => {
    const { upstreams } = await c.api.upstreamsList();
    if (ctx.values.json) return kit.printJson(ctx, upstreams);
    ctx.io.stdout.write(formatUpstreams(upstreams, ctx.deps.now()));
    return EXIT_OK;
  });
  return [
    { words: ['upstreams'], summary: 'list the upstream proxies and their health', description, options: { json, ...connection }, run: list },
    { words: ['upstreams', 'list'], summary: 'list the upstream proxies and their health', description, options: { json, ...connection }, run: list },
    {
      words: ['upstreams', 'check'],
      summary: 'check an upstream proxy now and print its health',
      description: `Connects to the upstream now and prints its status. Exit status 1 when it is down (for scripts).\nExample: switchyard upstreams check corp\n${accessNote}`,
      options: { json, ...connection },
      positionals: [{ name: 'NAME', help: 'the upstream, as named in the config file' }],
      run: (ctx) => kit.withService(ctx, async (c) => {
        const u = await c.api.upstreamsCheck({ name: ctx.positionals[0]! });
        if (ctx.values.json) kit.printJson(ctx, u);
        else ctx.io.stdout.write(formatUpstreams([u], ctx.deps.now()));
        return u.state === 'down' ? EXIT_FAILURE : EXIT_OK;
      }),
    },
  ];
}
