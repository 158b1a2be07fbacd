// app/protocol — the data shapes the service reports: sessions with their app and device, per-app and
// per-device aggregates, usage buckets, status, and the live `tick`. Each shape is one zod schema; the
// TypeScript type of the same name is derived from it (z.infer), never written twice.
// Units are in the names: times are Unix epoch milliseconds (`…At`, `lastSeen`, `since`), durations
// `…Ms`, counters in bytes and packets, rates in bytes per second (`…PerSec`). "In" is towards the app
// (received), "out" is from the app (sent), as in the engine.
import { z } from 'zod';

const count = () => z.number().int().nonnegative();
const epochMs = () => z.number().int().nonnegative();
const rate = () => z.number().nonnegative();

/** Transport protocols a session can have. */
export const SESSION_PROTOCOLS = ['tcp', 'udp', 'icmp'] as const;
/** Session states (the engine's names; app/control checks at compile time that they agree). */
export const SESSION_STATES = ['connecting', 'established', 'half-closed', 'closed'] as const;

export const SessionProtocolSchema = z.enum(SESSION_PROTOCOLS);
export const SessionStateSchema = z.enum(SESSION_STATES);

/** The process behind a local flow, or why it is not known (a real value, not an error). */
export const AppRefSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('process'),
    pid: count(),
    name: z.string(),
    exe: z.string(),
    cmdline: z.array(z.string()),
    uid: count(),
    user: z.string(),
  }),
  z.object({ kind: z.literal('unknown'), reason: z.string() }),
]);
/** The process behind a local flow, or why it is not known. */
export type AppRef = z.infer<typeof AppRefSchema>;

/** The device a flow comes from: this computer (`local`) or another host on the network. */
export const DeviceRefSchema = z.object({
  address: z.string(),
  mac: z.string().optional(),
  hostname: z.string().optional(),
  /** The name the user gave the device. */
  name: z.string().optional(),
  local: z.boolean(),
});
/** The device a flow comes from. */
export type DeviceRef = z.infer<typeof DeviceRefSchema>;

/** The counters of a session that change while it lives (the `updated` rows of a tick). */
export const SessionCountersSchema = z.object({
  id: count(),
  state: SessionStateSchema,
  lastSeen: epochMs(),
  bytesIn: count(), bytesOut: count(),
  packetsIn: count(), packetsOut: count(),
});
/** The counters of a session that change while it lives. */
export type SessionCounters = z.infer<typeof SessionCountersSchema>;

/** Where a session goes and why (decided once, when it opened). */
export const RouteSchema = z.object({
  kind: z.enum(['direct', 'upstream', 'block']),
  /** The upstream it goes through, or the one its rule named when a fallback applied. */
  upstream: z.string().optional(),
  blockMode: z.enum(['reset', 'drop']).optional(),
  /** The rule that decided; null = no rule matched (the default action). */
  ruleId: z.string().nullable(),
  reason: z.array(z.string()),
  /** Why the rule's upstream was not used and what was done instead. */
  fallback: z.string().optional(),
  rateLimitBytesPerSec: z.number().int().positive().optional(),
});
/** Where a session goes and why. */
export type Route = z.infer<typeof RouteSchema>;

/** One flow through the engine, as the app sees it (src is the app's side). */
export const SessionSchema = SessionCountersSchema.extend({
  protocol: SessionProtocolSchema,
  family: z.union([z.literal(4), z.literal(6)]),
  src: z.string(), srcPort: count(),
  dst: z.string(), dstPort: count(),
  startedAt: epochMs(),
  app: AppRefSchema,
  device: DeviceRefSchema,
  /** The destination's name, when DNS answers, TLS SNI or HTTP Host told us. */
  domain: z.string().optional(),
  domainSource: z.enum(['dns', 'sni', 'http']).optional(),
  /** The verdict; absent while it is being decided (waiting for the app, reading the first bytes). */
  route: RouteSchema.optional(),
});
/** One flow through the engine, as the app sees it. */
export type Session = z.infer<typeof SessionSchema>;

/** Traffic totals and current rates over the service's sliding window. */
export const AggregateSchema = z.object({
  bytesIn: count(), bytesOut: count(),
  packetsIn: count(), packetsOut: count(),
  bytesInPerSec: rate(), bytesOutPerSec: rate(),
  sessionsLive: count(), sessionsTotal: count(),
  firstSeen: epochMs(), lastSeen: epochMs(),
});
/** Traffic totals and current rates. */
export type Aggregate = z.infer<typeof AggregateSchema>;

/** One app (all its processes' sessions) with its aggregate; `key` identifies it in filters and ticks. */
export const AppSummarySchema = AggregateSchema.extend({
  key: z.string(),
  kind: z.enum(['process', 'unknown']),
  name: z.string(),
  exe: z.string(),
  /** Users that ran it, pids seen (most recent last, bounded by the service). */
  users: z.array(z.string()),
  pids: z.array(count()),
});
/** One app with its aggregate. */
export type AppSummary = z.infer<typeof AppSummarySchema>;

/** One device with its aggregate; `address` identifies it. */
export const DeviceSummarySchema = AggregateSchema.extend(DeviceRefSchema.shape);
/** One device with its aggregate. */
export type DeviceSummary = z.infer<typeof DeviceSummarySchema>;

/** One time bucket of usage history; `start` is the bucket's first millisecond. */
export const UsageBucketSchema = z.object({
  start: epochMs(),
  bytesIn: count(), bytesOut: count(),
  packetsIn: count(), packetsOut: count(),
});
/** One time bucket of usage history. */
export type UsageBucket = z.infer<typeof UsageBucketSchema>;

/** Gateway mode: whether it routes other LAN devices, from which interfaces, and how. */
export const GatewayStatusSchema = z.object({
  enabled: z.boolean(),
  interfaces: z.array(z.string()),
  ipv6: z.enum(['route', 'refuse']),
  dns: z.string(),
});
/** Gateway mode's status. */
export type GatewayStatus = z.infer<typeof GatewayStatusSchema>;

/** What `status` answers. */
export const StatusSchema = z.object({
  gateway: GatewayStatusSchema.optional(),
  version: z.string(),
  uptimeMs: count(),
  routing: z.boolean(),
  tun: z.object({ name: z.string(), mtu: count(), offload: z.boolean() }),
  egress: z.object({ interface: z.string(), address4: z.string().optional(), address6: z.string().optional() }),
  counts: z.object({
    sessions: z.object({ tcp: count(), udp: count(), icmp: count(), total: count() }),
    bytesIn: count(), bytesOut: count(),
    packetsIn: count(), packetsOut: count(),
    /** Dropped packets by reason ("malformed", "limit", …). */
    drops: z.record(z.string(), count()),
  }),
  /** Routing verdicts since start: decided, by route, fallbacks taken, flows sniffed; addresses in the domain map. */
  verdicts: z.object({
    decided: count(), direct: count(), upstream: count(), block: count(), fallback: count(), sniffed: count(), domainsKnown: count(),
  }).optional(),
  /** Process lookups for new flows: how many, how many found a process, and their mean cost. */
  attribution: z.object({ lookups: count(), found: count(), unknown: count(), meanUs: z.number().nonnegative() }).optional(),
});
/** What `status` answers. */
export type Status = z.infer<typeof StatusSchema>;

/** A rate row in a tick: `key` is an app key or a device address. */
export const RateRowSchema = z.object({ key: z.string(), bytesInPerSec: rate(), bytesOutPerSec: rate() });
/** A rate row in a tick. */
export type RateRow = z.infer<typeof RateRowSchema>;

/**
 * The live `tick` event, sent at a fixed rate (default 1 s), never per packet. Session rows are
 * deltas since the previous tick this subscriber received, and idempotent: `added` and `updated`
 * are upserts by id, `removed` ids may be unknown to the client. `resync: true` means ticks were
 * lost (a slow reader): rebuild the session view with `sessions.list`, then keep applying deltas.
 */
export const TickSchema = z.object({
  seq: count(),
  at: epochMs(),
  intervalMs: count(),
  resync: z.boolean().optional(),
  sessions: z.object({
    added: z.array(SessionSchema),
    updated: z.array(SessionCountersSchema),
    removed: z.array(count()),
  }),
  apps: z.array(RateRowSchema),
  devices: z.array(RateRowSchema),
  totals: z.object({ sessions: count(), bytesIn: count(), bytesOut: count(), bytesInPerSec: rate(), bytesOutPerSec: rate() }),
});
/** The live `tick` event. */
export type Tick = z.infer<typeof TickSchema>;

/** A rule's action as written: direct, through an upstream (with its fallback), or block. */
export const RuleActionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('direct') }),
  z.strictObject({ type: z.literal('upstream'), upstream: z.string(), fallback: z.enum(['direct', 'block']).optional() }),
  z.strictObject({ type: z.literal('block'), mode: z.enum(['reset', 'drop']).optional() }),
]);
/** A rule's action as written. */
export type RuleActionSpec = z.infer<typeof RuleActionSchema>;

/**
 * A rule as written (and persisted in the config file). `match` is a composition of matchers, e.g.
 * `{ all: [{ app: { name: curl } }, { port: 443 }] }`; the service checks it in depth and answers
 * INVALID_RULE with one line per problem.
 */
export const RuleSpecSchema = z.strictObject({
  id: z.string(),
  name: z.string().optional(),
  enabled: z.boolean().optional(),
  match: z.record(z.string(), z.unknown()),
  action: RuleActionSchema,
  rateLimitBytesPerSec: z.number().optional(),
});
/** A rule as written. */
export type RuleSpecWire = z.infer<typeof RuleSpecSchema>;

/** A flow described for `rules.explain`: what is not given is unknown to the rules. */
export const FlowDescriptionSchema = z.strictObject({
  protocol: SessionProtocolSchema,
  dst: z.string(),
  dstPort: z.number().int().min(0).max(65535).default(0),
  src: z.string().optional(),
  srcPort: z.number().int().min(0).max(65535).default(0),
  app: z.strictObject({ name: z.string().optional(), exe: z.string().optional(), user: z.string().optional(), uid: z.number().int().nonnegative().optional(), pid: z.number().int().nonnegative().optional() }).optional(),
  device: z.strictObject({ address: z.string(), mac: z.string().optional(), local: z.boolean().optional() }).optional(),
  domain: z.string().optional(),
  country: z.string().optional(),
});
/** A flow described for `rules.explain`. */
export type FlowDescription = z.infer<typeof FlowDescriptionSchema>;

/** One matcher's answer, nested as the rule's composition is. */
export const MatchResultSchema: z.ZodType<{ matched: boolean; unknown: boolean; reason: string; op?: 'all' | 'any' | 'not'; children?: unknown[] }> = z.lazy(() => z.object({
  matched: z.boolean(),
  unknown: z.boolean(),
  reason: z.string(),
  op: z.enum(['all', 'any', 'not']).optional(),
  children: z.array(MatchResultSchema).optional(),
}));

/** What `rules.explain` answers: the verdict and every rule's answer in order. */
export const ExplanationSchema = z.object({
  route: RouteSchema,
  rules: z.array(z.object({
    id: z.string(), name: z.string().optional(), enabled: z.boolean(), matched: z.boolean(), chosen: z.boolean(),
    reason: z.array(z.string()), result: MatchResultSchema,
  })),
});
/** What `rules.explain` answers. */
export type ExplanationWire = z.infer<typeof ExplanationSchema>;

/** A live session a rule change sends elsewhere (dry runs list them; applied changes close them). */
export const SessionMoveSchema = z.object({
  id: z.number().int().nonnegative(),
  protocol: SessionProtocolSchema,
  app: z.string(),
  dst: z.string(),
  dstPort: z.number().int().nonnegative(),
  domain: z.string().optional(),
  from: RouteSchema,
  to: RouteSchema,
});
/** A live session a rule change sends elsewhere. */
export type SessionMove = z.infer<typeof SessionMoveSchema>;

/** An upstream proxy and its health. */
export const UpstreamStatusSchema = z.object({
  name: z.string(),
  type: z.enum(['socks5', 'http']),
  address: z.string(),
  port: z.number().int(),
  auth: z.boolean(),
  udp: z.boolean(),
  state: z.enum(['unknown', 'up', 'down']),
  since: z.number().int().nonnegative(),
  checkedAt: z.number().int().nonnegative(),
  latencyMs: z.number().nonnegative().nullable(),
  error: z.string().nullable(),
  flows: z.number().int().nonnegative(),
  failures: z.number().int().nonnegative(),
});
/** An upstream proxy and its health. */
export type UpstreamStatusWire = z.infer<typeof UpstreamStatusSchema>;
