// Evaluated after @elysiajs/openapi, whatever imports this first: what it does at load is what this module undoes.
import '@elysiajs/openapi'
import { FormatRegistry } from '@sinclair/typebox'

/**
 * TypeBox's string formats as Enclava's schemas use them, registered again after @elysiajs/openapi is loaded.
 *
 * That package bundles @sinclair/typemap, whose Zod bridge replaces TypeBox's formats process-wide (uuid, email,
 * base64, url, date, ip and a dozen more) with checks that build a new Zod schema on every call: a `format: 'uuid'`
 * check cost 10–12 µs (0.05 µs as a pattern) and a heap of short-lived objects, on every request with an id in its
 * path or body and every item of a list answer (0.15 s of the main thread while SciFact was uploaded, `bun
 * bench/rag.ts` under `--cpu-prof`). The rules are kept exactly: these are Zod 4's own patterns and base64 test,
 * so what passed before passes now.
 */
export const formats = {
  /** RFC 9562: versions 1-8 with the RFC variant, or the nil and max UUIDs. */
  uuid: (value: string): boolean =>
    /^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/.test(value),
  email: (value: string): boolean => /^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}$/.test(value),
  base64: (value: string): boolean => {
    if (value === '') return true
    if (/\s/.test(value) || value.length % 4 !== 0) return false
    try {
      atob(value)
      return true
    } catch {
      return false
    }
  },
}

for (const [name, check] of Object.entries(formats)) FormatRegistry.Set(name, check)
