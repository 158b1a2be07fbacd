// renderer — the build: two pages (index.html, the app; perf.html, the app over a fake service) into
// dist/renderer/ with hashed assets. base './' so the same files work from the service's web server
// and from Electron (file:// or a custom protocol). Nothing inline, nothing external: the server's CSP
// is script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'.
import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: './',
  plugins: [svelte({ configFile: false })],
  build: {
    outDir: here('../dist/renderer'),
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: true,
    rolldownOptions: {
      input: { index: here('index.html'), perf: here('perf.html') },
      output: { chunkFileNames: 'assets/shared-[hash].js' },
    },
  },
  server: {
    // The renderer imports the protocol from ../app (pure zod/TypeScript).
    fs: { allow: [here('..')] },
  },
});
