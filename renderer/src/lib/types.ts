// renderer — the protocol's types the views use, from app/protocol (the one declaration; never restated).
export type {
  AppSummary, DeviceSummary, RuleActionSpec, RuleSpecWire, Session, SessionMove, Status, Tick, UpstreamStatusWire, UsageBucket, ExplanationWire,
  FlowDescription,
} from '../../../app/protocol/schema.js';
export type { RuleChange, MethodResult, MethodParams, HelloResult } from '../../../app/protocol/methods.js';
export { SESSION_PROTOCOLS, SESSION_STATES } from '../../../app/protocol/schema.js';
import type { SESSION_PROTOCOLS, SESSION_STATES } from '../../../app/protocol/schema.js';
export type SessionProtocol = (typeof SESSION_PROTOCOLS)[number];
export type SessionState = (typeof SESSION_STATES)[number];
