// Test helpers for the rules layer: a flow with sensible defaults, overridable per case.
import type { Attribution } from '../../../app/os/process.js';
import { prepareFlow, type FlowFacts, type PreparedFlow } from '../../../app/rules/flow.js';

/** An attribution for a process named `name`. */
export function proc(name: string, exe = `/usr/bin/${name}`, user = 'alice', uid = 1000): Attribution {
  return { kind: 'process', process: { pid: 42, name, exe, cmdline: [exe], uid, user } };
}

/** A prepared TCP flow from curl on this machine to 93.184.216.34:443, with overrides. */
export function flow(over: Partial<FlowFacts> = {}): PreparedFlow {
  return prepareFlow({
    protocol: 'tcp', family: 4, src: '192.168.1.10', srcPort: 40000, dst: '93.184.216.34', dstPort: 443,
    app: proc('curl'), device: { address: '192.168.1.10', local: true },
    ...over,
  });
}
