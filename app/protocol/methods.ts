// app/protocol — THE declaration of every request and event of the control API. Each method names
// its params schema and result schema; each event its payload schema. Types (MethodParams,
// MethodResult, EventData), server-side validation, the typed client facade and the CLI are all
// derived from these two objects: adding a method is one entry here plus one handler.
// Params are strict objects (an unknown key is INVALID_PARAMS, so typos never pass silently).
import { z } from 'zod';
import {
  AppSummarySchema, DeviceSummarySchema, GatewayStatusSchema, ExplanationSchema, FlowDescriptionSchema, RuleActionSchema, RuleSpecSchema,
  SessionMoveSchema, SessionProtocolSchema, SessionSchema, SessionStateSchema, StatusSchema, TickSchema,
  UpstreamStatusSchema, UsageBucketSchema,
} from './schema.js';

/** Bumped on any incompatible change to a method, event or error; `hello` reports it. */
export const PROTOCOL_VERSION = 1;

/** Page size limits of `sessions.list`. */
export const SESSIONS_PAGE_DEFAULT = 100;
export const SESSIONS_PAGE_MAX = 5000;
/** Bounds of a subscriber's tick interval; the service's own tick rate is the floor in practice. */
export const TICK_INTERVAL_MIN_MS = 250;
export const TICK_INTERVAL_MAX_MS = 60_000;
export const TICK_INTERVAL_DEFAULT_MS = 1000;

/** Fields `sessions.list` can sort by (`bytes` is in + out). */
export const SESSION_SORT_FIELDS = [
  'id', 'startedAt', 'lastSeen', 'bytes', 'bytesIn', 'bytesOut', 'packetsIn', 'packetsOut',
  'protocol', 'state', 'app', 'device', 'dst',
] as const;

/** Event topics a client can subscribe to. */
export const TOPICS = ['tick'] as const;

interface MethodSpec<P extends z.ZodType, R extends z.ZodType> { summary: string; params: P; result: R }
function method<P extends z.ZodType, R extends z.ZodType>(spec: MethodSpec<P, R>): MethodSpec<P, R> { return spec; }

const noParams = z.strictObject({});
const ruleId = z.string().min(1).max(64);
/** Every rule change can also be applied to live sessions: those that would now go elsewhere are closed. */
const applyToLive = z.boolean().default(false);
/** What every rule change answers: the rules after it, and the live sessions it moved (closed). */
const ruleChangeResult = z.object({
  rules: z.array(RuleSpecSchema),
  defaultAction: RuleActionSchema,
  moved: z.array(SessionMoveSchema),
});
/** A rule change, as `rules.dryRun` takes it (the same params as the method of the same name). */
const RuleChangeSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('add'), rule: RuleSpecSchema, index: z.number().int().nonnegative().optional() }),
  z.strictObject({ op: z.literal('update'), id: ruleId, rule: RuleSpecSchema }),
  z.strictObject({ op: z.literal('remove'), id: ruleId }),
  z.strictObject({ op: z.literal('move'), id: ruleId, index: z.number().int().nonnegative() }),
  z.strictObject({ op: z.literal('enable'), id: ruleId, enabled: z.boolean() }),
  z.strictObject({ op: z.literal('setDefault'), action: RuleActionSchema }),
]);
/** A rule change for `rules.dryRun`. */
export type RuleChange = z.infer<typeof RuleChangeSchema>;
const substring = z.string().min(1).max(256);
const timeMs = z.number().int().nonnegative();

/** Every request the control server answers. */
export const METHODS = {
  hello: method({
    summary: 'protocol and server versions, so a client can tell whether it speaks the same protocol',
    params: z.strictObject({ client: z.string().max(200).optional() }),
    result: z.object({ protocolVersion: z.number().int(), serverVersion: z.string(), methods: z.array(z.string()) }),
  }),
  status: method({
    summary: 'version, uptime, routing on/off, TUN, egress and counters',
    params: noParams,
    result: StatusSchema,
  }),
  'routing.set': method({
    summary: 'turn routing through Switchyard on or off; the service keeps running',
    params: z.strictObject({ enabled: z.boolean() }),
    result: z.object({ routing: z.boolean() }),
  }),
  'sessions.list': method({
    summary: 'live sessions: filtered, sorted and paged',
    params: z.strictObject({
      filter: z.strictObject({
        /** Substring of the app's name or executable path (case-insensitive); "unknown" matches unattributed. */
        app: substring.optional(),
        /** Substring of the device's address, MAC or hostname (case-insensitive). */
        device: substring.optional(),
        protocol: SessionProtocolSchema.optional(),
        state: SessionStateSchema.optional(),
        /** Substring of addresses, "addr:port", ports, app, user or domain. */
        text: substring.optional(),
      }).optional(),
      sort: z.strictObject({ field: z.enum(SESSION_SORT_FIELDS), order: z.enum(['asc', 'desc']).default('asc') }).optional(),
      offset: z.number().int().nonnegative().default(0),
      limit: z.number().int().min(1).max(SESSIONS_PAGE_MAX).default(SESSIONS_PAGE_DEFAULT),
    }),
    result: z.object({ total: z.number().int().nonnegative(), offset: z.number().int().nonnegative(), sessions: z.array(SessionSchema) }),
  }),
  'sessions.close': method({
    summary: 'close a live session (TCP: reset both sides; UDP/ICMP: forget it)',
    params: z.strictObject({ id: z.number().int().nonnegative() }),
    result: z.object({ id: z.number().int().nonnegative(), closed: z.literal(true) }),
  }),
  'apps.list': method({
    summary: 'apps seen since the service started, with traffic totals and current rates',
    params: noParams,
    result: z.object({ apps: z.array(AppSummarySchema) }),
  }),
  'devices.list': method({
    summary: 'devices seen since the service started, with traffic totals and current rates',
    params: noParams,
    result: z.object({ devices: z.array(DeviceSummarySchema) }),
  }),
  'usage.query': method({
    summary: 'usage history in time buckets, for one app, one device or everything',
    params: z.strictObject({
      app: substring.optional(),
      device: substring.optional(),
      since: timeMs,
      until: timeMs.optional(),
      resolution: z.enum(['minute', 'hour']).default('minute'),
    }).refine((p) => p.until === undefined || p.until >= p.since, { message: 'until is before since', path: ['until'] }),
    result: z.object({ resolution: z.enum(['minute', 'hour']), buckets: z.array(UsageBucketSchema) }),
  }),
  'rules.list': method({
    summary: 'the ordered rules (first match wins) and the default action',
    params: noParams,
    result: z.object({ rules: z.array(RuleSpecSchema), defaultAction: RuleActionSchema }),
  }),
  'rules.add': method({
    summary: 'add a rule at index (default: last); saved to the config file; applies to new sessions at once',
    params: z.strictObject({ rule: RuleSpecSchema, index: z.number().int().nonnegative().optional(), applyToLive }),
    result: ruleChangeResult,
  }),
  'rules.update': method({
    summary: 'replace the rule with this id (the new one may have a new id); keeps its place',
    params: z.strictObject({ id: ruleId, rule: RuleSpecSchema, applyToLive }),
    result: ruleChangeResult,
  }),
  'rules.remove': method({
    summary: 'remove the rule with this id',
    params: z.strictObject({ id: ruleId, applyToLive }),
    result: ruleChangeResult,
  }),
  'rules.move': method({
    summary: 'move the rule with this id to index (0 = first)',
    params: z.strictObject({ id: ruleId, index: z.number().int().nonnegative(), applyToLive }),
    result: ruleChangeResult,
  }),
  'rules.enable': method({
    summary: 'enable or disable the rule with this id',
    params: z.strictObject({ id: ruleId, enabled: z.boolean(), applyToLive }),
    result: ruleChangeResult,
  }),
  'rules.setDefault': method({
    summary: 'set the action for flows no rule matches',
    params: z.strictObject({ action: RuleActionSchema, applyToLive }),
    result: ruleChangeResult,
  }),
  'rules.explain': method({
    summary: 'which rule a described flow matches and why, with every rule\'s answer; or for a live session by id',
    params: z.strictObject({ flow: FlowDescriptionSchema.optional(), sessionId: z.number().int().nonnegative().optional() })
      .refine((p) => (p.flow === undefined) !== (p.sessionId === undefined), { message: 'give exactly one of flow, sessionId' }),
    result: ExplanationSchema,
  }),
  'rules.dryRun': method({
    summary: 'the live sessions a rule change would send elsewhere, without changing anything',
    params: z.strictObject({ change: RuleChangeSchema }),
    result: z.object({ moved: z.array(SessionMoveSchema), valid: z.literal(true) }),
  }),
  'gateway.set': method({
    summary: 'turn gateway mode on or off (routing of other LAN devices); saved to the config file',
    params: z.strictObject({ enabled: z.boolean() }),
    result: GatewayStatusSchema,
  }),
  'devices.rename': method({
    summary: 'name a device by its MAC (follows it when its address changes) or address; an empty name removes it',
    params: z.strictObject({ device: z.string().min(1).max(64), name: z.string().max(64) }),
    result: z.object({ mac: z.string().optional(), address: z.string().optional(), name: z.string() }),
  }),
  'apps.icon': method({
    summary: 'an app\'s icon as the desktop gives it (PNG or SVG, base64), by executable path',
    params: z.strictObject({ exe: z.string().min(1).max(4096), name: z.string().max(256).default('') }),
    result: z.object({ mime: z.enum(['image/png', 'image/svg+xml']), data: z.string() }).nullable(),
  }),
  'ui.info': method({
    summary: 'the web UI: whether it is served, and its URL with the token (for the CLI to print)',
    params: noParams,
    result: z.object({ enabled: z.boolean(), url: z.string().optional(), listen: z.string() }),
  }),
  'upstreams.list': method({
    summary: 'the configured upstream proxies with their health',
    params: noParams,
    result: z.object({ upstreams: z.array(UpstreamStatusSchema) }),
  }),
  'upstreams.check': method({
    summary: 'check an upstream\'s health now',
    params: z.strictObject({ name: z.string().min(1).max(64) }),
    result: UpstreamStatusSchema,
  }),
  subscribe: method({
    summary: 'receive events of the given topics on this connection until unsubscribe or disconnect',
    params: z.strictObject({
      topics: z.array(z.enum(TOPICS)).min(1),
      intervalMs: z.number().int().min(TICK_INTERVAL_MIN_MS).max(TICK_INTERVAL_MAX_MS).default(TICK_INTERVAL_DEFAULT_MS),
    }),
    result: z.object({ topics: z.array(z.enum(TOPICS)), intervalMs: z.number().int() }),
  }),
  unsubscribe: method({
    summary: 'stop receiving events of the given topics (all topics when none are given)',
    params: z.strictObject({ topics: z.array(z.enum(TOPICS)).optional() }),
    result: z.object({ topics: z.array(z.enum(TOPICS)) }),
  }),
} as const;

/** Every event the server pushes to subscribers. */
export const EVENTS = {
  tick: { summary: 'session deltas, per-app and per-device rates and totals, at a fixed rate', data: TickSchema },
} as const;

/** A method name, e.g. 'sessions.list'. */
export type MethodName = keyof typeof METHODS;
/** An event name, e.g. 'tick'. */
export type EventName = keyof typeof EVENTS;
/** Params as a caller writes them (defaults may be left out). */
export type MethodParams<M extends MethodName> = z.input<(typeof METHODS)[M]['params']>;
/** Params as a handler receives them (validated, defaults filled in). */
export type ParsedParams<M extends MethodName> = z.output<(typeof METHODS)[M]['params']>;
/** What a method answers. */
export type MethodResult<M extends MethodName> = z.output<(typeof METHODS)[M]['result']>;
/** An event's payload. */
export type EventData<E extends EventName> = z.output<(typeof EVENTS)[E]['data']>;

/** The method names in declaration order. */
export const METHOD_NAMES = Object.keys(METHODS) as MethodName[];
/** The event names in declaration order. */
export const EVENT_NAMES = Object.keys(EVENTS) as EventName[];

/** True when `name` is a declared method (safe on untrusted strings: own keys only). */
export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(METHODS, name);
}

/** What `hello` answers. */
export type HelloResult = MethodResult<'hello'>;
