import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import solid from 'vite-plugin-solid'
import { precompressed } from './precompress.ts'

/** Build: `bunx vite build --config web/vite.config.ts` (from the repository root) -> web/dist, served at `/`. */
const root = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root,
  base: '/',
  plugins: [solid(), precompressed()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false },
  server: { proxy: { '/api-internal': 'http://127.0.0.1:3000', '/api': 'http://127.0.0.1:3000', '/health': 'http://127.0.0.1:3000' } },
})
