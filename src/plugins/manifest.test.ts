/**
 * The plugin's settings schema: what parseManifest refuses in it (references, broken patterns, deep nesting), and
 * validateConfig, which runs the plugin author's patterns on a worker thread within a time budget.
 */
import { describe, expect, test } from 'bun:test'
import { whileTicking } from '../../test/fixtures/event-loop.ts'
import { CONFIG_CHECK_MS, ManifestError, parseManifest, validateConfig } from './manifest.ts'
import type { Manifest } from './model.ts'

const withConfig = (config: unknown) => parseManifest({ name: 'settings-test', version: '1.0.0', config })
/** A manifest as stored before parseManifest refused anything in its schema. */
const stored = (config: Record<string, unknown>) => ({ ...withConfig({ type: 'object' }), config }) as Manifest

function manifestError(config: unknown): string {
  try {
    withConfig(config)
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError)
    return (err as Error).message
  }
  throw new Error('parseManifest accepted the schema')
}

describe('parseManifest: the config schema', () => {
  test.each([
    ['$ref', { type: 'object', properties: { a: { $ref: '#/$defs/a' } }, $defs: { a: { type: 'string' } } }, 'plugin.json.config.properties.a.$ref'],
    ['$ref to a remote schema', { type: 'object', $ref: 'https://example.com/schema.json' }, 'plugin.json.config.$ref'],
    ['$dynamicRef', { type: 'object', properties: { a: { type: 'array', items: { $dynamicRef: '#x' } } } }, 'plugin.json.config.properties.a.items.$dynamicRef'],
    ['$recursiveRef', { type: 'object', allOf: [{ $recursiveRef: '#' }] }, 'plugin.json.config.allOf[0].$recursiveRef'],
  ])('%s is refused, with its path', (keyword, config, path) => {
    expect(manifestError(config)).toBe(`${path}: ${keyword.split(' ')[0]} is not supported: write the schema out in full`)
  })

  test('a property named $ref, and $ref inside data (default, enum, const), are not references', () => {
    const config = {
      type: 'object',
      properties: { $ref: { type: 'string', default: '#/x' }, b: { type: 'object', default: { $ref: 'x' }, enum: [{ $ref: 'y' }] }, c: { const: { $ref: 'z' } }, pattern: { type: 'string' } },
    }
    expect(withConfig(config).config).toEqual(config)
  })

  test('a pattern (or patternProperties key) that is not a JavaScript u-flag regular expression is refused', () => {
    expect(manifestError({ type: 'object', properties: { a: { type: 'string', pattern: '([a-z' } } })).toStartWith(
      'plugin.json.config.properties.a.pattern: not a JavaScript regular expression (with the u flag)',
    )
    // Valid without the u flag, invalid with it (the validator compiles with u).
    expect(manifestError({ type: 'object', properties: { a: { type: 'string', pattern: '\\-' } } })).toStartWith('plugin.json.config.properties.a.pattern:')
    expect(manifestError({ type: 'object', properties: { a: { type: 'string', pattern: 5 } } })).toBe('plugin.json.config.properties.a.pattern: a pattern must be a string')
    expect(manifestError({ type: 'object', patternProperties: { '(': { type: 'string' } } })).toStartWith('plugin.json.config.patternProperties["("]: not a JavaScript')
  })

  test('a schema nested deeper than 32 levels is refused', () => {
    let deep: Record<string, unknown> = { type: 'string' }
    for (let i = 0; i < 20; i++) deep = { type: 'object', properties: { a: deep } }
    expect(manifestError(deep)).toContain('the schema nests more than 32 levels deep')
    let fine: Record<string, unknown> = { type: 'string' }
    for (let i = 0; i < 10; i++) fine = { type: 'object', properties: { a: fine } }
    expect(() => withConfig(fine)).not.toThrow()
  })
})

describe('validateConfig', () => {
  const schema = {
    type: 'object',
    properties: {
      url: { type: 'string', format: 'uri' },
      email: { type: 'string', format: 'email' },
      count: { type: 'integer', minimum: 1, maximum: 10 },
      code: { type: 'string', pattern: '^[A-Z]{3}$' },
      token: { type: 'string', secret: true },
    },
    required: ['url'],
    additionalProperties: false,
  }

  test('valid settings pass; required, format, ranges, patterns and additionalProperties are checked', async () => {
    const m = withConfig(schema)
    expect(await validateConfig(m, { url: 'https://example.com', email: 'a@b.example', count: 3, code: 'ABC', token: 't' })).toEqual([])
    expect(await validateConfig(m, {})).toEqual(['/: Instance does not have required property "url".'])
    const problems = await validateConfig(m, { url: 'not a url', email: 'nope', count: 11, code: 'abc', extra: 1 })
    expect(problems).toContain('/url: String does not match format "uri".')
    expect(problems).toContain('/email: String does not match format "email".')
    expect(problems).toContain('/count: 11 is greater than 10.')
    expect(problems).toContain('/code: String does not match pattern.')
    expect(problems.some((p) => p.includes('"extra"'))).toBe(true)
  })

  // Bun's regex engine gives up on one catastrophic match after about half a second (and answers "no match"), so
  // one string is not enough to show the budget: twenty of them took ten seconds on the server thread before.
  const backtracking = { type: 'object', properties: { s: { type: 'array', items: { type: 'string', pattern: '^(a+)+$' } } } }
  const slowValue = { s: Array.from({ length: 20 }, () => `${'a'.repeat(36)}b`) }

  test('a backtracking pattern is stopped at the budget while the event loop keeps running; the next check works', async () => {
    const m = withConfig(backtracking)
    await validateConfig(m, { s: ['a'] }) // the worker is started, so only the check is timed below
    const { result, maxGapMs, ms } = await whileTicking(() => validateConfig(m, slowValue))
    expect(result).toEqual({
      status: 'fulfilled',
      value: [
        `a pattern in the plugin's settings schema took longer than the ${CONFIG_CHECK_MS} ms a settings check may take; the plugin's author has to simplify it`,
      ],
    })
    expect(ms).toBeLessThan(CONFIG_CHECK_MS + 1500)
    expect(maxGapMs).toBeLessThan(300)
    expect(await validateConfig(m, { s: ['aaa'] })).toEqual([])
    expect(await validateConfig(m, { s: ['b'] })).toContain('/s/0: String does not match pattern.')
  })

  test('checks started together each get their own answer, a slow one included', async () => {
    const slow = withConfig(backtracking)
    const normal = withConfig(schema)
    const [a, b, c] = await Promise.all([
      validateConfig(normal, {}),
      validateConfig(slow, slowValue),
      validateConfig(normal, { url: 'https://example.com' }),
    ])
    expect(a).toEqual(['/: Instance does not have required property "url".'])
    expect(b[0]).toContain('took longer than')
    expect(c).toEqual([])
  })

  test('a schema the validator cannot use (a stored $ref from before it was refused) throws', async () => {
    const m = stored({ type: 'object', properties: { a: { $ref: '#/$defs/missing' } } })
    await expect(validateConfig(m, { a: 1 })).rejects.toBeInstanceOf(ManifestError)
  })
})
