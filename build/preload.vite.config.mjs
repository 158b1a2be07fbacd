// Bundles the sandboxed preload (main/preload.ts + what it imports from main/) into one CommonJS file,
// dist/main/preload.cjs. A sandboxed preload may require only electron, events, timers and url, and
// cannot be an ES module; `electron` stays external (the sandbox provides it).
//   npx vite build --config build/preload.vite.config.mjs
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export default {
  root,
  configFile: false,
  logLevel: 'warn',
  build: {
    outDir: 'dist/main',
    emptyOutDir: false,
    minify: false,
    sourcemap: false,
    target: 'node20',
    lib: { entry: 'main/preload.ts', formats: ['cjs'], fileName: () => 'preload.cjs' },
    rollupOptions: { external: ['electron'] },
  },
};
