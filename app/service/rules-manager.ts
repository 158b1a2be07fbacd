// The rules as the service keeps them: the specs users wrote (the config file's `rules` and
// `defaultAction`), the compiled RuleSet the router uses, and every change to them.
//
//   change (API) ─▶ new specs ─▶ validate (parseRules/parseAction; errors name the field)
//                 ─▶ save to the config file (atomic, comments kept; the whole file must still parse)
//                 ─▶ router.setRules ─▶ new sessions use it at once
//                 ─▶ applyToLive: close the live sessions whose route changes (the app reconnects)
//
// Nothing changes in memory unless the file was saved: a full disk or a broken file leaves both the
// running rules and the file as they were. Changes are serialized (one at a time).
import type { Document } from 'yaml';
import type { Engine } from '../engine/engine.js';
import type { Session, SessionRoute } from '../flow/session.js';
import { protocolName, routeWire } from '../engine/session-view.js';
import type { Logger } from '../log.js';
import { parseAddress } from '../net/cidr.js';
import { RuleSet, type FlowRouter } from '../policy/router.js';
import { ProtocolError, type ExplanationWire, type FlowDescription, type RuleChange, type RuleSpecWire, type SessionMove } from '../protocol/index.js';
import type { FlowFacts } from '../rules/flow.js';
import type { CountryLookup } from '../geo/country-db.js';
import { parseAction, parseRules, type RuleSpec } from '../rules/schema.js';
import type { ConfigStore } from './config-store.js';
import { seqInsert, seqMove, seqRemove, seqReplace, mapSet } from './config-store.js';
import { parseConfig } from './config.js';

type ActionSpec = RuleSpec['action'];

export interface RuleChangeOutcome {
  rules: RuleSpecWire[];
  defaultAction: ActionSpec;
  moved: SessionMove[];
}

export class RulesManager {
  #specs: RuleSpec[];
  #default: ActionSpec;
  readonly #router: FlowRouter;
  readonly #engine: Engine;
  readonly #store: ConfigStore | null;
  readonly #log: Logger;
  readonly #loadGeo: (() => Promise<CountryLookup>) | null;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(opts: { specs: RuleSpec[]; defaultAction: ActionSpec; router: FlowRouter; engine: Engine; store: ConfigStore | null; log: Logger; loadGeo?: () => Promise<CountryLookup> }) {
    this.#loadGeo = opts.loadGeo ?? null;
    this.#specs = opts.specs;
    this.#default = opts.defaultAction;
    this.#router = opts.router;
    this.#engine = opts.engine;
    this.#store = opts.store;
    this.#log = opts.log;
  }

  /** The rules as written (the protocol's loose form: `match` is checked in depth by compile). */
  list(): { rules: RuleSpecWire[]; defaultAction: ActionSpec } {
    return { rules: structuredClone(this.#specs) as unknown as RuleSpecWire[], defaultAction: structuredClone(this.#default) };
  }

  /** Compiles specs into a RuleSet; INVALID_RULE with one line per problem. */
  compile(specs: RuleSpec[], defaultAction: ActionSpec): RuleSet {
    const upstreams = this.#router.upstreams.names;
    const r = parseRules(specs, 'rules', { upstreams });
    const a = parseAction(defaultAction, 'defaultAction', { upstreams });
    const errors = [...(r.ok ? [] : r.errors), ...(a.ok ? [] : a.errors)];
    if (!r.ok || !a.ok) throw new ProtocolError('INVALID_RULE', errors.join('; '), { errors });
    return new RuleSet(r.rules, a.action);
  }

  /** The specs after `change`, and how to make the same edit in the config file. */
  #plan(change: RuleChange): { specs: RuleSpec[]; defaultAction: ActionSpec; edit: (doc: Document) => void } {
    const specs = structuredClone(this.#specs);
    let defaultAction = this.#default;
    const indexOf = (id: string): number => {
      const i = specs.findIndex((r) => r.id === id);
      if (i < 0) throw new ProtocolError('RULE_NOT_FOUND', `no rule with id "${id}"`, { id });
      return i;
    };
    switch (change.op) {
      case 'add': {
        const rule = change.rule as RuleSpec;
        if (specs.some((r) => r.id === rule.id)) throw new ProtocolError('RULE_EXISTS', `a rule with id "${rule.id}" already exists`, { id: rule.id });
        const at = Math.min(change.index ?? specs.length, specs.length);
        specs.splice(at, 0, rule);
        return { specs, defaultAction, edit: (doc) => seqInsert(doc, ['rules'], at, rule) };
      }
      case 'update': {
        const i = indexOf(change.id);
        const rule = change.rule as RuleSpec;
        if (rule.id !== change.id && specs.some((r) => r.id === rule.id)) throw new ProtocolError('RULE_EXISTS', `a rule with id "${rule.id}" already exists`, { id: rule.id });
        specs[i] = rule;
        return { specs, defaultAction, edit: (doc) => seqReplace(doc, ['rules'], i, rule) };
      }
      case 'remove': {
        const i = indexOf(change.id);
        specs.splice(i, 1);
        return { specs, defaultAction, edit: (doc) => seqRemove(doc, ['rules'], i) };
      }
      case 'move': {
        const i = indexOf(change.id);
        const to = Math.min(change.index, specs.length - 1);
        const [rule] = specs.splice(i, 1);
        specs.splice(to, 0, rule!);
        return { specs, defaultAction, edit: (doc) => seqMove(doc, ['rules'], i, to) };
      }
      case 'enable': {
        const i = indexOf(change.id);
        const rule = { ...specs[i]!, enabled: change.enabled };
        specs[i] = rule;
        return { specs, defaultAction, edit: (doc) => seqReplace(doc, ['rules'], i, rule) };
      }
      case 'setDefault': {
        defaultAction = change.action as ActionSpec;
        const action = defaultAction;
        return { specs, defaultAction, edit: (doc) => mapSet(doc, ['defaultAction'], action) };
      }
    }
  }

  /** The live sessions `change` would send elsewhere; nothing changes. Invalid changes are refused as by apply. */
  dryRun(change: RuleChange): SessionMove[] {
    const plan = this.#plan(change);
    return this.#moves(this.compile(plan.specs, plan.defaultAction));
  }

  /** Applies a change: validated, saved, in force for new sessions; with applyToLive, moved sessions are closed. */
  apply(change: RuleChange, applyToLive: boolean): Promise<RuleChangeOutcome> {
    const run = this.#tail.then(() => this.#apply(change, applyToLive));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #apply(change: RuleChange, applyToLive: boolean): Promise<RuleChangeOutcome> {
    const plan = this.#plan(change);
    const set = this.compile(plan.specs, plan.defaultAction);
    if (this.#store !== null) {
      const before = { rules: this.#specs, defaultAction: this.#default };
      try {
        await this.#store.update((doc) => {
          // Edits are by position: the file must still hold the rules this service loaded.
          const onDisk = doc.toJS() as { rules?: unknown; defaultAction?: unknown } | null;
          if (!sameJson(onDisk?.rules ?? [], before.rules) || !sameJson(onDisk?.defaultAction ?? { type: 'direct' }, before.defaultAction)) {
            throw new Error('the rules in the config file were changed by hand since the service loaded them; restart the service to load them first');
          }
          plan.edit(doc);
        }, (text) => { parseConfig(text, 'the edited config'); });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.#log.error('rule change not saved: the running rules and the config file are unchanged', { error: message });
        throw new ProtocolError('PERSIST_FAILED', `the change was not saved, so it was not applied: ${message}`, { error: message });
      }
    }
    const moved = applyToLive ? this.#moves(set) : [];
    this.#specs = plan.specs;
    this.#default = plan.defaultAction;
    this.#router.setRules(set);
    if (set.needsCountry && !this.#router.hasGeo && this.#loadGeo) {
      // The first country rule: its flows see "country unknown" until the data is loaded (~1 s).
      this.#loadGeo().then((g) => this.#router.setGeo(g), (err: Error) => this.#log.error('country rules cannot match: the GeoIP data could not be loaded', { error: err.message }));
    }
    for (const m of moved) this.#engine.closeSession(m.id, 'rerouted');
    this.#log.info('rules changed', { op: change.op, rules: this.#specs.length, closedSessions: moved.length });
    return { ...this.list(), moved };
  }

  /** Live decided sessions whose route under `set` differs from the one they have. */
  #moves(set: RuleSet): SessionMove[] {
    const out: SessionMove[] = [];
    for (const s of this.#engine.flows.values()) {
      const from = s.route;
      if (from === null || s.state === 3 /* CLOSED */) continue;
      const to = this.#router.wouldRoute(s, set);
      if (to.kind === from.kind && to.upstream === from.upstream) continue;
      out.push(moveOf(s, from, to));
    }
    return out;
  }

  /** Explains a described flow, or a live session's. */
  explain(p: { flow?: FlowDescription; sessionId?: number }): ExplanationWire {
    let facts: FlowFacts;
    if (p.sessionId !== undefined) {
      const s = this.#engine.flows.byId.get(p.sessionId);
      if (s === undefined) throw new ProtocolError('SESSION_NOT_FOUND', `no live session with id ${p.sessionId}`, { id: p.sessionId });
      facts = this.#router.facts(s);
    } else {
      facts = factsOf(p.flow!);
    }
    const { route, explanation } = this.#router.explain(facts);
    return {
      route: routeWire(route),
      rules: explanation.rules.map((r) => ({
        id: r.id, ...(r.name !== undefined ? { name: r.name } : {}), enabled: r.enabled, matched: r.matched, chosen: r.chosen,
        reason: r.reason, result: r.result,
      })),
    };
  }
}

/** A flow description from the API as rule facts; INVALID_PARAMS for bad addresses. */
function factsOf(f: FlowDescription): FlowFacts {
  const dst = parseAddress(f.dst);
  if (typeof dst === 'string') throw new ProtocolError('INVALID_PARAMS', `flow.dst: "${f.dst}" ${dst}`, { issues: [{ path: 'flow.dst', message: dst }] });
  const src = f.src ?? (dst.family === 4 ? '0.0.0.0' : '::');
  const s = parseAddress(src);
  if (typeof s === 'string' || s.family !== dst.family) throw new ProtocolError('INVALID_PARAMS', `flow.src: "${src}" is not an IPv${dst.family} address`, { issues: [{ path: 'flow.src', message: 'bad address' }] });
  const facts: FlowFacts = {
    protocol: f.protocol, family: dst.family, src, srcPort: f.srcPort, dst: f.dst, dstPort: f.dstPort,
    app: f.app ? { kind: 'process', process: { pid: f.app.pid ?? 0, name: f.app.name ?? '', exe: f.app.exe ?? '', cmdline: [], uid: f.app.uid ?? -1, user: f.app.user ?? '' } } : { kind: 'unknown', reason: 'not given' },
    device: { address: f.device?.address ?? src, local: f.device?.local ?? f.device === undefined, ...(f.device?.mac ? { mac: f.device.mac } : {}) },
  };
  if (f.domain !== undefined) facts.domain = f.domain;
  if (f.country !== undefined) facts.country = f.country;
  return facts;
}

function moveOf(s: Session, from: SessionRoute, to: SessionRoute): SessionMove {
  const app = s.app?.kind === 'process' ? s.app.process.name : 'unknown';
  return {
    id: s.id, protocol: protocolName(s.proto), app, dst: s.dstText, dstPort: s.dstPort,
    ...(s.domain !== null ? { domain: s.domain } : {}),
    from: routeWire(from), to: routeWire(to),
  };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** Key order does not matter when comparing what is on disk with what is in memory. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  return v;
}
