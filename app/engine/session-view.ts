// Sessions as plain data for the API, the CLI and tests: the one conversion from an engine Session
// (bytes, numbers, a state enum) to the protocol's Session (text addresses, names). Never on the
// packet path: it runs on requests and at the 1 s tick.
import { SESSION_STATE_NAMES, type Session, type SessionRoute } from '../flow/session.js';
import type { AppRef, Route, Session as WireSession } from '../protocol/index.js';

const PENDING_REF: AppRef = { kind: 'unknown', reason: 'lookup in progress' };

/** The protocol name of an IP protocol number the engine forwards. */
export function protocolName(proto: number): 'tcp' | 'udp' | 'icmp' {
  return proto === 6 ? 'tcp' : proto === 17 ? 'udp' : 'icmp';
}

/** Wire forms of attribution and device info, shared by every session that has the same one. */
const wireApps = new WeakMap<object, AppRef>();
const wireDevices = new WeakMap<object, WireSession['device']>();

function wireApp(s: Session): AppRef {
  const a = s.app;
  if (a === null) return PENDING_REF;
  if (a.kind === 'unknown') return a;
  let w = wireApps.get(a.process);
  if (!w) {
    const p = a.process;
    wireApps.set(p, (w = { kind: 'process', pid: p.pid, name: p.name, exe: p.exe, cmdline: p.cmdline, uid: Math.max(0, p.uid), user: p.user }));
  }
  return w;
}

function wireDevice(s: Session): WireSession['device'] {
  const d = s.device;
  if (d === null) return { address: s.srcText, local: true };
  // A device's MAC or name can arrive later: the cached form is rebuilt when they differ.
  let w = wireDevices.get(d);
  if (!w || w.mac !== d.mac || w.hostname !== d.hostname || w.name !== d.name) {
    wireDevices.set(d, (w = { address: d.address, local: d.local, ...(d.mac ? { mac: d.mac } : {}), ...(d.hostname ? { hostname: d.hostname } : {}), ...(d.name ? { name: d.name } : {}) }));
  }
  return w;
}

/** Wire forms of routes: a route object is shared by many sessions only when it is the default's. */
const wireRoutes = new WeakMap<SessionRoute, Route>();

/** A SessionRoute as the protocol's Route. */
export function routeWire(r: SessionRoute): Route {
  let w = wireRoutes.get(r);
  if (!w) {
    wireRoutes.set(r, (w = {
      kind: r.kind, ruleId: r.ruleId, reason: [...r.reason],
      ...(r.upstream !== undefined ? { upstream: r.upstream } : {}),
      ...(r.blockMode !== undefined ? { blockMode: r.blockMode } : {}),
      ...(r.fallback !== undefined ? { fallback: r.fallback } : {}),
      ...(r.rateLimitBytesPerSec !== undefined ? { rateLimitBytesPerSec: r.rateLimitBytesPerSec } : {}),
    }));
  }
  return w;
}

/** An engine session as the protocol's Session. */
export function toWire(s: Session): WireSession {
  const w: WireSession = {
    id: s.id, state: SESSION_STATE_NAMES[s.state], lastSeen: s.lastSeen,
    bytesIn: s.bytesIn, bytesOut: s.bytesOut, packetsIn: s.packetsIn, packetsOut: s.packetsOut,
    protocol: protocolName(s.proto), family: s.family,
    src: s.srcText, srcPort: s.srcPort, dst: s.dstText, dstPort: s.dstPort, startedAt: s.startedAt,
    app: wireApp(s), device: wireDevice(s),
  };
  if (s.domain !== null) { w.domain = s.domain; if (s.domainSource !== null) w.domainSource = s.domainSource; }
  if (s.route !== null) w.route = routeWire(s.route);
  return w;
}
