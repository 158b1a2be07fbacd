// native/relay — picks the StreamRelay for this OS (app/os/relay.ts). Linux: SpliceRelay (splice(2) in
// a worker thread, no payload in JavaScript) when its worker starts; anywhere else, or if it does not
// start, the portable JsRelay. The choice is logged once.
import type { StreamRelay } from '../../app/os/relay.js';
import type { Logger } from '../../app/log.js';
import { JsRelay } from '../../app/engine/relay-js.js';
import { OnDemandRelay } from './on-demand.js';

/** Which relay to use: 'auto' prefers splice where available, 'js' and 'splice' force one. */
export type RelayMode = 'auto' | 'js' | 'splice';

/** Returns the relay for `mode`; 'splice' throws where splice cannot run, 'auto' falls back to JsRelay. */
export async function createStreamRelay(mode: RelayMode, log: Logger, platform: NodeJS.Platform = process.platform): Promise<StreamRelay> {
  if (mode === 'js') {
    log.info('relay: js (Node streams)', { mode });
    return new JsRelay();
  }
  if (platform !== 'linux') {
    if (mode === 'splice') throw new Error(`the splice relay needs Linux (this is ${platform})`);
    log.info('relay: js (Node streams): splice is Linux-only', { mode, platform });
    return new JsRelay();
  }
  try {
    const { SpliceRelay } = await import('./linux-splice.js');
    if (mode === 'auto') {
      // The worker runs only while TCP connections are relayed (idle service: ~10 MiB less RSS); if it
      // cannot start when first needed, OnDemandRelay logs it and uses the JS relay.
      log.info('relay: splice (worker thread, splice(2) through pipes; started on demand, stopped when idle)', { mode });
      return new OnDemandRelay('splice', () => SpliceRelay.start({ log }), { log });
    }
    const relay = await SpliceRelay.start({ log });
    log.info('relay: splice (worker thread, splice(2) through pipes)', { mode, pipeBytes: relay.pipeBytes });
    return relay;
  } catch (err) {
    if (mode === 'splice') throw err;
    log.warn('relay: js (Node streams): the splice relay did not start', { mode, error: (err as Error).message });
    return new JsRelay();
  }
}
