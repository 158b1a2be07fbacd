// Rules layer, input side: rules as users write them (YAML or JSON, already parsed to plain data)
// → validated and compiled Rules, or one error line per problem naming the key path and the bad
// value: `rules[2].match.all[0].cidr: "10.0.0.1/8" has host bits set (did you mean "10.0.0.0/8"?)`.
// Unknown keys are errors. Nothing is partially accepted: any error and no rule is returned.
//
// A match node has exactly one key: a composition (`all: [nodes]`, `any: [nodes]`, `not: node`) or a
// leaf, which may add `onUnknown: match | no-match` when its attribute can be unknown:
//   app: { name: glob|[globs], exe: glob|[globs], ignoreCase: bool }   user: name|uid|[…]
//   device: { cidr: …, mac: … }   cidr: "10.0.0.0/8"|[…]   port: 443|"8000-8999"|[…]
//   domain: { exact: …, suffix: …, keyword: … }   protocol: tcp|udp|icmp|[…]   country: "DE"|[…]
import { z } from 'zod';
import { parseCidr, type Cidr } from '../net/cidr.js';
import { all, any, not } from './compose.js';
import type { FlowProtocol } from './flow.js';
import type { LeafKind, Matcher, OnUnknown } from './matcher.js';
import { appMatcher } from './matchers/app.js';
import { countryMatcher } from './matchers/country.js';
import { destinationMatcher } from './matchers/destination.js';
import { deviceMatcher } from './matchers/device.js';
import { domainMatcher } from './matchers/domain.js';
import { portMatcher, type PortRange } from './matchers/port.js';
import { protocolMatcher } from './matchers/protocol.js';
import { userMatcher } from './matchers/user.js';
import type { Rule, RuleAction } from './rule.js';
import { keyPath, show, valueAt } from '../validation.js';

type OneOrMany<T> = T | T[];

/** A match node as written by a user. */
export interface MatchSpec {
  all?: MatchSpec[];
  any?: MatchSpec[];
  not?: MatchSpec;
  app?: { name?: OneOrMany<string>; exe?: OneOrMany<string>; ignoreCase?: boolean };
  user?: OneOrMany<string | number>;
  device?: { cidr?: OneOrMany<string>; mac?: OneOrMany<string> };
  cidr?: OneOrMany<string>;
  domain?: { exact?: OneOrMany<string>; suffix?: OneOrMany<string>; keyword?: OneOrMany<string> };
  port?: OneOrMany<number | string>;
  protocol?: OneOrMany<FlowProtocol>;
  country?: OneOrMany<string>;
  onUnknown?: OnUnknown;
}

/** A rule as written by a user (the form to persist and to list through the API). */
export interface RuleSpec {
  id: string;
  name?: string;
  enabled?: boolean;
  match: MatchSpec;
  action:
    | { type: 'direct' }
    | { type: 'upstream'; upstream: string; fallback?: 'direct' | 'block' }
    | { type: 'block'; mode?: 'reset' | 'drop' };
  rateLimitBytesPerSec?: number;
}

/** A compiled rule with the spec it came from. */
export interface ParsedRule extends Rule {
  spec: RuleSpec;
}

/** The outcome of parseRules: every rule, or every problem. */
export type ParseRulesResult = { ok: true; rules: ParsedRule[] } | { ok: false; errors: string[] };

const COMPOSITIONS = ['all', 'any', 'not'] as const;
const LEAVES: readonly LeafKind[] = ['app', 'user', 'device', 'cidr', 'domain', 'port', 'protocol', 'country'];
// Leaves whose attribute is always known take no onUnknown: it would never apply.
const ALWAYS_KNOWN: readonly string[] = ['cidr', 'protocol'];
const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const UPSTREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAC = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;
const DOMAIN_LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;
const GLOB_MAX = 1024;
const RATE_MAX = 2 ** 40;

// Item checks: null when fine, else the text that follows the quoted value.
type Check = (v: unknown) => string | null;

const globCheck: Check = (v) => {
  if (typeof v !== 'string') return 'is not a string';
  if (v === '') return 'is empty';
  if (v.length > GLOB_MAX) return `is ${v.length} characters long (at most ${GLOB_MAX})`;
  return null;
};

const cidrCheck: Check = (v) => {
  if (typeof v !== 'string') return 'is not a string';
  const r = parseCidr(v);
  return typeof r === 'string' ? r : null;
};

const macCheck: Check = (v) => (typeof v === 'string' && MAC.test(v) ? null : 'is not a MAC address (like "aa:bb:cc:dd:ee:ff")');

const userCheck: Check = (v) => {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? null : 'is not a uid (an integer 0..4294967295)';
  if (typeof v !== 'string') return 'is not a user name or uid';
  return v === '' ? 'is empty' : null;
};

function domainCheck(v: unknown): string | null {
  if (typeof v !== 'string') return 'is not a string';
  if (v.includes('*')) return 'has a "*" (a suffix already covers every subdomain; write "example.com")';
  const d = v.toLowerCase().replace(/\.$/, '');
  if (d === '' || d.length > 253) return 'is not a domain name';
  return d.split('.').every((l) => DOMAIN_LABEL.test(l)) ? null : 'is not a domain name';
}

const keywordCheck: Check = (v) => (typeof v !== 'string' ? 'is not a string' : v === '' ? 'is empty (it would match every domain)' : null);

/** A port or an inclusive range, or an error string. */
function toPortRange(v: unknown): PortRange | string {
  const port = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (typeof v === 'number') return port(v) ? { from: v, to: v } : 'is not a port (1..65535)';
  if (typeof v !== 'string') return 'is not a port or a range like "8000-8999"';
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v.trim());
  if (!m) return 'is not a port or a range like "8000-8999"';
  const from = Number(m[1]), to = m[2] === undefined ? from : Number(m[2]);
  if (!port(from) || !port(to)) return 'is not a port (1..65535)';
  return from <= to ? { from, to } : `is a range whose start is after its end (did you mean "${to}-${from}"?)`;
}

const portCheck: Check = (v) => {
  const r = toPortRange(v);
  return typeof r === 'string' ? r : null;
};

const protocolCheck: Check = (v) => (v === 'tcp' || v === 'udp' || v === 'icmp' ? null : 'is not one of tcp, udp, icmp');
const countryCheck: Check = (v) => (typeof v === 'string' && /^[A-Za-z]{2}$/.test(v) ? null : 'is not an ISO 3166-1 alpha-2 country code (like "DE")');

/** A value or a non-empty list of values, each passing `check`; issues point at the bad item. */
function oneOrMany(check: Check) {
  return z.unknown().superRefine((v, ctx) => {
    if (Array.isArray(v)) {
      if (v.length === 0) ctx.addIssue({ code: 'custom', message: 'is an empty list' });
      v.forEach((item, i) => {
        const err = check(item);
        if (err) ctx.addIssue({ code: 'custom', message: `${show(item)} ${err}`, path: [i] });
      });
    } else {
      const err = check(v);
      if (err) ctx.addIssue({ code: 'custom', message: `${show(v)} ${err}` });
    }
  }).optional();
}

function atLeastOne(keys: string[]) {
  return (v: Record<string, unknown>, ctx: z.RefinementCtx) => {
    if (keys.every((k) => v[k] === undefined)) ctx.addIssue({ code: 'custom', message: `needs at least one of ${keys.join(', ')}` });
  };
}

const matchNode: z.ZodType<unknown> = z.lazy(() => z.strictObject({
  all: z.array(matchNode).min(1, 'is an empty list').optional(),
  any: z.array(matchNode).min(1, 'is an empty list').optional(),
  not: matchNode.optional(),
  app: z.strictObject({ name: oneOrMany(globCheck), exe: oneOrMany(globCheck), ignoreCase: z.boolean().optional() })
    .superRefine(atLeastOne(['name', 'exe'])).optional(),
  user: oneOrMany(userCheck),
  device: z.strictObject({ cidr: oneOrMany(cidrCheck), mac: oneOrMany(macCheck) }).superRefine(atLeastOne(['cidr', 'mac'])).optional(),
  cidr: oneOrMany(cidrCheck),
  domain: z.strictObject({ exact: oneOrMany(domainCheck), suffix: oneOrMany(domainCheck), keyword: oneOrMany(keywordCheck) })
    .superRefine(atLeastOne(['exact', 'suffix', 'keyword'])).optional(),
  port: oneOrMany(portCheck),
  protocol: oneOrMany(protocolCheck),
  country: oneOrMany(countryCheck),
  onUnknown: z.enum(['match', 'no-match']).optional(),
}).superRefine((v, ctx) => {
  const keys = Object.keys(v).filter((k) => k !== 'onUnknown' && (v as Record<string, unknown>)[k] !== undefined);
  const kinds = [...COMPOSITIONS, ...LEAVES].join(', ');
  if (keys.length === 0) ctx.addIssue({ code: 'custom', message: `is empty (needs one of ${kinds})` });
  else if (keys.length > 1) ctx.addIssue({ code: 'custom', message: `has ${keys.join(' and ')}; a match node has exactly one (combine them with "all")` });
  else if (v.onUnknown !== undefined && ((COMPOSITIONS as readonly string[]).includes(keys[0]!) || ALWAYS_KNOWN.includes(keys[0]!))) {
    ctx.addIssue({ code: 'custom', message: `${show(v.onUnknown)} cannot apply: ${keys[0]} is never unknown`, path: ['onUnknown'] });
  }
}));

const nameText = (re: RegExp, what: string) => z.string().superRefine((v, ctx) => {
  if (!re.test(v)) ctx.addIssue({ code: 'custom', message: `${show(v)} is not a valid ${what} (letters, digits, "_", ".", "-"; at most 64)` });
});

const actionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('direct') }),
  z.strictObject({ type: z.literal('upstream'), upstream: nameText(UPSTREAM_NAME, 'upstream name'), fallback: z.enum(['direct', 'block']).optional() }),
  z.strictObject({ type: z.literal('block'), mode: z.enum(['reset', 'drop']).optional() }),
]);

const ruleSchema = z.strictObject({
  id: nameText(RULE_ID, 'rule id'),
  name: z.string().max(200, 'is longer than 200 characters').optional(),
  enabled: z.boolean().optional(),
  match: matchNode,
  action: actionSchema,
  rateLimitBytesPerSec: z.number().superRefine((v, ctx) => {
    if (!Number.isInteger(v) || v < 1 || v > RATE_MAX) ctx.addIssue({ code: 'custom', message: `${show(v)} is not an integer in 1..${RATE_MAX}` });
  }).optional(),
});

const rulesSchema = z.array(ruleSchema).superRefine((rules, ctx) => {
  const first = new Map<string, number>();
  rules.forEach((r, i) => {
    const at = first.get(r.id);
    if (at !== undefined) ctx.addIssue({ code: 'custom', message: `${show(r.id)} is already the id of item [${at}]`, path: [i, 'id'] });
    else first.set(r.id, i);
  });
});

const TYPE_NAMES: Record<string, string> = { number: 'a number', string: 'a string', array: 'a list', object: 'a mapping', boolean: 'true or false' };

function describe(issue: z.core.$ZodIssue, input: unknown, prefix: string): string[] {
  const path = issue.path;
  const value = valueAt(input, path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => `${keyPath([...path, key], prefix)}: unknown key "${key}"`);
    case 'invalid_type': {
      const want = TYPE_NAMES[issue.expected] ?? issue.expected;
      return [value === undefined ? `${keyPath(path, prefix)}: is required (${want})` : `${keyPath(path, prefix)}: ${show(value)} is not ${want}`];
    }
    case 'invalid_value':
      return [`${keyPath(path, prefix)}: ${show(value)} is not one of ${issue.values.map(String).join(', ')}`];
    case 'invalid_union':
      return [`${keyPath(path, prefix)}: ${show(value)} is not one of direct, upstream, block`];
    case 'custom':
      return [`${keyPath(path, prefix)}: ${issue.message}`];
    case 'too_small':
      return [`${keyPath(path, prefix)}: ${Array.isArray(value) ? '' : `${show(value)} `}${issue.message}`];
    default:
      return [`${keyPath(path, prefix)}: ${show(value)} ${issue.message}`];
  }
}

const list = <T>(v: OneOrMany<T> | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const cidrs = (v: OneOrMany<string> | undefined): Cidr[] => list(v).map((t) => parseCidr(t) as Cidr);

/** Compiles a validated match node into matchers. */
function compileMatch(spec: MatchSpec): Matcher {
  const u = spec.onUnknown;
  if (spec.all) return all(...spec.all.map(compileMatch));
  if (spec.any) return any(...spec.any.map(compileMatch));
  if (spec.not) return not(compileMatch(spec.not));
  if (spec.app) return appMatcher({ names: list(spec.app.name), exes: list(spec.app.exe), ignoreCase: spec.app.ignoreCase ?? false, ...(u && { onUnknown: u }) });
  if (spec.user !== undefined) return userMatcher(list(spec.user), u);
  if (spec.device) return deviceMatcher({ cidrs: cidrs(spec.device.cidr), macs: list(spec.device.mac), ...(u && { onUnknown: u }) });
  if (spec.cidr !== undefined) return destinationMatcher(cidrs(spec.cidr));
  if (spec.domain) {
    const d = spec.domain;
    return domainMatcher({ exact: list(d.exact), suffix: list(d.suffix), keyword: list(d.keyword), ...(u && { onUnknown: u }) });
  }
  if (spec.port !== undefined) return portMatcher(list(spec.port).map((p) => toPortRange(p) as PortRange), u);
  if (spec.protocol !== undefined) return protocolMatcher(list(spec.protocol));
  if (spec.country !== undefined) return countryMatcher(list(spec.country), u);
  throw new Error('unreachable: validated match node without a kind');
}

function compileAction(spec: RuleSpec['action']): RuleAction {
  switch (spec.type) {
    case 'direct': return { type: 'direct' };
    // Fail closed by default: when the upstream is down, leaking a flow directly is worse than losing it.
    case 'upstream': return { type: 'upstream', upstream: spec.upstream, fallback: spec.fallback ?? 'block' };
    case 'block': return { type: 'block', mode: spec.mode ?? 'reset' };
  }
}

/** The outcome of parseAction: the action as written and compiled, or every problem. */
export type ParseActionResult = { ok: true; spec: RuleSpec['action']; action: RuleAction } | { ok: false; errors: string[] };

/** Validates a lone action (the default action); `path` prefixes every error. */
export function parseAction(input: unknown, path = 'defaultAction', options: { upstreams?: readonly string[] } = {}): ParseActionResult {
  const parsed = actionSchema.safeParse(input);
  if (!parsed.success) return { ok: false, errors: parsed.error.issues.flatMap((i) => describe(i, input, path)) };
  const spec = structuredClone(input) as RuleSpec['action'];
  if (options.upstreams && spec.type === 'upstream' && !options.upstreams.includes(spec.upstream)) {
    const names = options.upstreams.length ? options.upstreams.join(', ') : 'none are configured';
    return { ok: false, errors: [`${keyPath(['upstream'], path)}: ${show(spec.upstream)} is not a configured upstream (${names})`] };
  }
  return { ok: true, spec, action: compileAction(spec) };
}

/**
 * Validates and compiles a list of rules; `path` prefixes every error (e.g. "rules").
 * With `upstreams`, an action naming an upstream not in it is an error too.
 */
export function parseRules(input: unknown, path = 'rules', options: { upstreams?: readonly string[] } = {}): ParseRulesResult {
  const parsed = rulesSchema.safeParse(input);
  if (!parsed.success) {
    // "is empty"/"needs at least one of" next to an unknown key at the same place only repeats it.
    const issues = parsed.error.issues;
    const unknownAt = new Set(issues.filter((i) => i.code === 'unrecognized_keys').map((i) => keyPath(i.path, '')));
    const useful = issues.filter((i) => !(i.code === 'custom' && unknownAt.has(keyPath(i.path, '')) && /^(is empty \(|needs at least one of)/.test(i.message)));
    return { ok: false, errors: useful.flatMap((i) => describe(i, input, path)) };
  }
  const specs = structuredClone(input) as RuleSpec[]; // ParsedRule.spec must not change under the caller
  const errors: string[] = [];
  if (options.upstreams) {
    const known = new Set(options.upstreams);
    specs.forEach((r, i) => {
      if (r.action.type === 'upstream' && !known.has(r.action.upstream)) {
        const names = options.upstreams!.length ? options.upstreams!.join(', ') : 'none are configured';
        errors.push(`${keyPath([i, 'action', 'upstream'], path)}: ${show(r.action.upstream)} is not a configured upstream (${names})`);
      }
    });
  }
  if (errors.length) return { ok: false, errors };
  return {
    ok: true,
    rules: specs.map((spec) => {
      const rule: ParsedRule = { id: spec.id, enabled: spec.enabled ?? true, match: compileMatch(spec.match), action: compileAction(spec.action), spec };
      if (spec.name !== undefined) rule.name = spec.name;
      if (spec.rateLimitBytesPerSec !== undefined) rule.rateLimitBytesPerSec = spec.rateLimitBytesPerSec;
      return rule;
    }),
  };
}
