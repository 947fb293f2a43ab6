import { describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { FormatRegistry } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { t } from 'elysia'
import '../app.ts'

// What the app registered, read before this file loads the module itself: if the app did not load it, the Zod
// bridge's checks are still in place here.
const registered = new Map(['uuid', 'email', 'base64'].map((name) => [name, FormatRegistry.Get(name)]))
const { formats } = await import('./formats.ts')

describe('string formats', () => {
  test("the app's checks are the plain ones, not @elysiajs/openapi's Zod bridge (a schema built per call)", () => {
    expect([...registered.keys()].sort()).toEqual(Object.keys(formats).sort())
    for (const [name, check] of Object.entries(formats)) {
      expect(registered.get(name)).toBe(check)
      expect(FormatRegistry.Get(name)).toBe(check)
    }
  })

  test('the rules are Zod 4’s, as before: what passed passes, what failed fails', () => {
    const id = t.Object({ id: t.String({ format: 'uuid' }), email: t.String({ format: 'email' }), data: t.String({ format: 'base64' }) })
    const check = TypeCompiler.Compile(id)
    const ok = { id: crypto.randomUUID(), email: 'a.b+c@example.co', data: 'YWJj' }
    expect(check.Check(ok)).toBe(true)
    const cases: [keyof typeof ok, string, boolean][] = [
      ['id', '00000000-0000-0000-0000-000000000000', true],
      ['id', 'ffffffff-ffff-ffff-ffff-ffffffffffff', true],
      ['id', 'ABCDEF01-2345-4789-AB00-0123456789AB', true],
      // the max UUID in capitals, as Zod has it
      ['id', '0194f9a8-7b1c-7def-8abc-0123456789ab', true],
      ['id', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', false],
      // version 0 and 9, variant c, braces, urn prefix, one short
      ['id', '00000000-0000-0000-0000-000000000001', false],
      ['id', '00000000-0000-9000-8000-000000000001', false],
      ['id', '00000000-0000-4000-c000-000000000001', false],
      ['id', '{00000000-0000-4000-8000-000000000001}', false],
      ['id', 'urn:uuid:00000000-0000-4000-8000-000000000001', false],
      ['id', '00000000-0000-4000-8000-00000000001', false],
      ['email', 'x@y.io', true],
      ['email', "o'neil_1@mail.example.org", true],
      ['email', '.a@b.co', false],
      ['email', 'a..b@c.de', false],
      ['email', 'a@b', false],
      ['email', 'a@b.c', false],
      ['email', 'a b@c.de', false],
      ['data', '', true],
      ['data', 'YQ==', true],
      ['data', 'YWJ', false],
      ['data', 'YW J', false],
      ['data', 'Y===', false],
      ['data', 'YW-_', false],
    ]
    for (const [field, value, valid] of cases) expect([field, value, check.Check({ ...ok, [field]: value })]).toEqual([field, value, valid])
  })

  test("no format a schema of the app names is left to the Zod bridge (a format added later is caught here)", () => {
    const src = join(import.meta.dir, '..')
    const used = new Set<string>()
    for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' }))
      if (file.endsWith('.ts') && !file.endsWith('.test.ts'))
        for (const m of readFileSync(join(src, file), 'utf8').matchAll(/t\.String\(\{[^}]*format: '([\w-]+)'/g)) used.add(m[1]!)
    expect([...used]).toContain('uuid')
    for (const name of used) {
      const check = FormatRegistry.Get(name)
      expect([name, check !== undefined]).toEqual([name, true])
      // The bridge's checks read `(value) => check(string3().uuid(), value)`.
      expect([name, /string\d*\(\)/.test(String(check))]).toEqual([name, false])
    }
  })
})
