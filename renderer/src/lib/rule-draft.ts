// renderer — rules as the UI drafts them: one-click rules from a session, an app or a device, and the
// rule form's fields ↔ a rule spec (app/protocol RuleSpecSchema; the service validates the rest and
// answers INVALID_RULE naming each bad field). Matcher shapes are those of app/rules/schema.ts:
//   app: {name}  domain: {suffix|exact}  cidr  port  protocol  device: {cidr}  user
// Several matchers combine with `all`. A rule the form cannot show whole is edited as JSON instead.
import type { RuleActionSpec, RuleSpecWire } from './types.js';

/** What a one-click rule matches. */
export type RuleTarget =
  | { kind: 'app'; name: string }
  | { kind: 'domain'; domain: string }
  | { kind: 'address'; address: string }
  | { kind: 'device'; address: string; label: string };

/** The leaf that matches `t`: an app by name, a domain with its subdomains, one address, one device. */
export function targetMatch(t: RuleTarget): Record<string, unknown> {
  switch (t.kind) {
    case 'app': return { app: { name: t.name } };
    case 'domain': return { domain: { suffix: t.domain } };
    case 'address': return { cidr: hostCidr(t.address) };
    case 'device': return { device: { cidr: hostCidr(t.address) } };
  }
}

/** "curl", "example.com and its subdomains", "1.2.3.4", "device nas (192.168.1.5)". */
export function targetLabel(t: RuleTarget): string {
  switch (t.kind) {
    case 'app': return `the app ${t.name}`;
    case 'domain': return `${t.domain} and its subdomains`;
    case 'address': return `the address ${t.address}`;
    case 'device': return `the device ${t.label}`;
  }
}

/** One address as a CIDR: /32 for IPv4, /128 for IPv6. */
export function hostCidr(address: string): string {
  return `${address}/${address.includes(':') ? 128 : 32}`;
}

/** "block-curl", lower case, safe for a rule id (letters, digits, "_", ".", "-"; at most 64). */
function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+/, '').replace(/-+$/, '').slice(0, 48) || 'rule';
}

/** An id from `base` that is not in `taken`: "block-curl", then "block-curl-2", … */
export function uniqueRuleId(base: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  const b = slug(base);
  if (!used.has(b)) return b;
  for (let i = 2; ; i++) if (!used.has(`${b}-${i}`)) return `${b}-${i}`;
}

function actionWords(a: RuleActionSpec): string {
  return a.type === 'upstream' ? `via ${a.upstream}` : a.type === 'block' ? 'block' : 'direct';
}

function targetWords(t: RuleTarget): string {
  return t.kind === 'app' ? t.name : t.kind === 'domain' ? t.domain : t.kind === 'address' ? t.address : t.label;
}

/** A one-click rule: `action` for `target`, with a readable unique id and name. */
export function quickRule(target: RuleTarget, action: RuleActionSpec, takenIds: Iterable<string>): RuleSpecWire {
  const verb = action.type === 'block' ? 'Block' : action.type === 'direct' ? 'Send directly:' : `Route via ${action.upstream}:`;
  return {
    id: uniqueRuleId(`${actionWords(action)}-${targetWords(target)}`.replace(/^via /, 'via-'), takenIds),
    name: `${verb} ${targetWords(target)}`,
    match: targetMatch(target),
    action,
  };
}

/** The rule form's fields: lists are comma-separated text, as a person types them. */
export interface RuleForm {
  id: string;
  name: string;
  enabled: boolean;
  apps: string;
  exes: string;
  users: string;
  domains: string;
  exactDomains: string;
  cidrs: string;
  ports: string;
  protocols: ('tcp' | 'udp' | 'icmp')[];
  devices: string;
  action: 'direct' | 'upstream' | 'block';
  upstream: string;
  fallback: 'block' | 'direct';
  blockMode: 'reset' | 'drop';
  /** A rate limit in KiB/s, '' for none. */
  rateKiB: string;
}

/** An empty form: a new rule that sends matching flows directly. */
export function emptyForm(): RuleForm {
  return {
    id: '', name: '', enabled: true, apps: '', exes: '', users: '', domains: '', exactDomains: '', cidrs: '', ports: '', protocols: [],
    devices: '', action: 'direct', upstream: '', fallback: 'block', blockMode: 'reset', rateKiB: '',
  };
}

const list = (text: string): string[] => text.split(',').map((s) => s.trim()).filter(Boolean);
const one = <T>(v: T[]): T | T[] => (v.length === 1 ? v[0]! : v);
const numeric = (v: string): string | number => (/^\d{1,10}$/.test(v) ? Number(v) : v);

/** The spec a form describes, or the problems the service could not name (no matcher, no upstream chosen). */
export function formToSpec(f: RuleForm): { spec: RuleSpecWire } | { errors: string[] } {
  const leaves: Record<string, unknown>[] = [];
  if (list(f.apps).length) leaves.push({ app: { name: one(list(f.apps)) } });
  if (list(f.exes).length) leaves.push({ app: { exe: one(list(f.exes)) } });
  if (list(f.users).length) leaves.push({ user: one(list(f.users).map(numeric)) });
  if (list(f.devices).length) leaves.push({ device: { cidr: one(list(f.devices)) } });
  if (list(f.cidrs).length) leaves.push({ cidr: one(list(f.cidrs)) });
  if (list(f.domains).length) leaves.push({ domain: { suffix: one(list(f.domains)) } });
  if (list(f.exactDomains).length) leaves.push({ domain: { exact: one(list(f.exactDomains)) } });
  if (list(f.ports).length) leaves.push({ port: one(list(f.ports).map(numeric)) });
  if (f.protocols.length) leaves.push({ protocol: one(f.protocols) });
  const errors: string[] = [];
  if (f.id.trim() === '') errors.push('id: give the rule an id (letters, digits, "_", ".", "-")');
  if (leaves.length === 0) errors.push('match: choose at least one thing to match (an app, a domain, an address, a port, …)');
  if (f.action === 'upstream' && f.upstream === '') errors.push('action.upstream: choose an upstream');
  let rate: number | undefined;
  if (f.rateKiB.trim() !== '') {
    const kib = Number(f.rateKiB);
    if (!Number.isFinite(kib) || kib <= 0) errors.push(`rateLimitBytesPerSec: "${f.rateKiB}" is not a positive number of KiB/s`);
    else rate = Math.round(kib * 1024);
  }
  if (errors.length) return { errors };
  const action: RuleActionSpec = f.action === 'upstream' ? { type: 'upstream', upstream: f.upstream, fallback: f.fallback }
    : f.action === 'block' ? (f.blockMode === 'drop' ? { type: 'block', mode: 'drop' } : { type: 'block' }) : { type: 'direct' };
  const spec: RuleSpecWire = {
    id: f.id.trim(),
    ...(f.name.trim() ? { name: f.name.trim() } : {}),
    ...(f.enabled ? {} : { enabled: false }),
    match: leaves.length === 1 ? leaves[0]! : { all: leaves },
    action,
    ...(rate !== undefined ? { rateLimitBytesPerSec: rate } : {}),
  };
  return { spec };
}

const texts = (v: unknown): string[] | null => {
  const a = Array.isArray(v) ? v : [v];
  return a.every((x) => typeof x === 'string' || typeof x === 'number') ? a.map(String) : null;
};

/** The form showing `spec`, or null when the form cannot show all of it (any, not, onUnknown, keywords, …): edit as JSON. */
export function specToForm(spec: RuleSpecWire): RuleForm | null {
  const f = emptyForm();
  f.id = spec.id;
  f.name = spec.name ?? '';
  f.enabled = spec.enabled !== false;
  const m = spec.match as Record<string, unknown>;
  const leaves = Array.isArray(m.all) ? (m.all as unknown[]) : [m];
  const set = (key: keyof RuleForm, v: unknown): boolean => {
    const t = texts(v);
    if (t === null || (f[key] as string) !== '') return false;
    (f as unknown as Record<string, unknown>)[key] = t.join(', ');
    return true;
  };
  for (const leaf of leaves) {
    if (leaf === null || typeof leaf !== 'object') return null;
    const keys = Object.keys(leaf);
    if (keys.length !== 1) return null;
    const k = keys[0]!;
    const v = (leaf as Record<string, unknown>)[k];
    const sub = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
    const only = (name: string) => sub !== null && Object.keys(sub).length === 1 && sub[name] !== undefined;
    let ok = false;
    if (k === 'app' && only('name')) ok = set('apps', sub!.name);
    else if (k === 'app' && only('exe')) ok = set('exes', sub!.exe);
    else if (k === 'user') ok = set('users', v);
    else if (k === 'device' && only('cidr')) ok = set('devices', sub!.cidr);
    else if (k === 'cidr') ok = set('cidrs', v);
    else if (k === 'domain' && only('suffix')) ok = set('domains', sub!.suffix);
    else if (k === 'domain' && only('exact')) ok = set('exactDomains', sub!.exact);
    else if (k === 'port') ok = set('ports', v);
    else if (k === 'protocol' && f.protocols.length === 0) {
      const t = texts(v);
      if (t !== null && t.every((p) => p === 'tcp' || p === 'udp' || p === 'icmp')) { f.protocols = t as RuleForm['protocols']; ok = true; }
    }
    if (!ok) return null;
  }
  const a = spec.action;
  f.action = a.type;
  if (a.type === 'upstream') { f.upstream = a.upstream; f.fallback = a.fallback ?? 'block'; }
  if (a.type === 'block') f.blockMode = a.mode ?? 'reset';
  if (spec.rateLimitBytesPerSec !== undefined) f.rateKiB = String(Math.round((spec.rateLimitBytesPerSec / 1024) * 100) / 100);
  return f;
}
