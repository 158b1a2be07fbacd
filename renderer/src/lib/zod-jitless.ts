// renderer — imported first by every page: zod compiles fast object parsers with `new Function`, and
// probes for it while the protocol's schemas are built at load. The page's CSP (script-src 'self')
// forbids eval, so the probe is a CSP violation on every load; jitless mode skips it. The renderer
// parses little (the rule editor's JSON), so the slower interpreter costs nothing noticeable.
import { z } from 'zod';

z.config({ jitless: true });
