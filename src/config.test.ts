import { describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, ConfigSchema, loadConfig, parseConfig } from './config.ts'

describe('parseConfig', () => {
  test('defaults', () => {
    const c = parseConfig({})
    expect(c).toMatchObject({ PORT: 3000, HOST: '127.0.0.1', DATA_DIR: './.data', LOG_LEVEL: 'info', ALLOW_REGISTRATION: false })
    expect(c.ACCESS_TOKEN_TTL_SECONDS).toBe(900)
    expect(c.DATABASE_URL).toBeUndefined()
    expect(c.REDIS_URL).toBeUndefined()
  })

  test('converts numbers and booleans from strings', () => {
    const c = parseConfig({ PORT: '8080', ALLOW_REGISTRATION: 'true', TRUST_PROXY: 'false' })
    expect(c.PORT).toBe(8080)
    expect(c.ALLOW_REGISTRATION).toBe(true)
    expect(c.TRUST_PROXY).toBe(false)
  })

  test.each([
    ['PORT', 'eighty', /^PORT: expected an integer/],
    ['PORT', '70000', /^PORT:/],
    ['DATABASE_URL', 'mysql://x', /^DATABASE_URL: expected a value matching/],
    ['REDIS_URL', 'localhost:6379', /^REDIS_URL:/],
    ['LOG_LEVEL', 'loud', /^LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent/],
    ['ADMIN_EMAIL', 'not-an-email', /^ADMIN_EMAIL: expected an email address/],
    ['ADMIN_PASSWORD', 'short', /^ADMIN_PASSWORD: .*got <hidden>/],
    ['JWT_SECRET', 'too-short', /^JWT_SECRET: .*<hidden>/],
    ['ENCRYPTION_KEY', 'zz', /^ENCRYPTION_KEY: .*<hidden>/],
    ['ALLOW_REGISTRATION', 'maybe', /^ALLOW_REGISTRATION: expected true or false/],
  ] as [string, string, RegExp][])('%s=%s is rejected with a message naming the variable', (name, value, message) => {
    const env = { [name]: value }
    expect(() => parseConfig(env)).toThrow(ConfigError)
    expect(() => parseConfig(env)).toThrow(message)
  })

  test('a config file supplies values; the environment wins; unknown keys are rejected', () => {
    const dir = mkdtempSync(join(tmpdir(), 'enclava-config-'))
    const file = join(dir, 'enclava.json')
    writeFileSync(file, JSON.stringify({ PORT: 4000, HOST: '0.0.0.0', LOG_LEVEL: 'debug' }))
    expect(parseConfig({ ENCLAVA_CONFIG: file })).toMatchObject({ PORT: 4000, HOST: '0.0.0.0', LOG_LEVEL: 'debug' })
    expect(parseConfig({ ENCLAVA_CONFIG: file, PORT: '5000' }).PORT).toBe(5000)
    writeFileSync(file, JSON.stringify({ PORTT: 1 }))
    expect(() => parseConfig({ ENCLAVA_CONFIG: file })).toThrow(/^PORTT: unknown setting/)
    writeFileSync(file, '{not json')
    expect(() => parseConfig({ ENCLAVA_CONFIG: file })).toThrow(/^ENCLAVA_CONFIG: cannot read/)
    expect(() => parseConfig({ ENCLAVA_CONFIG: join(dir, 'missing.json') })).toThrow(/^ENCLAVA_CONFIG/)
  })
})

describe('loadConfig secrets', () => {
  test('generates JWT_SECRET and ENCRYPTION_KEY once, keeps them in DATA_DIR with mode 0600, reuses them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'enclava-data-'))
    const first = loadConfig({ DATA_DIR: dir })
    expect(first.JWT_SECRET.length).toBeGreaterThanOrEqual(32)
    expect(first.ENCRYPTION_KEY).toMatch(/^[0-9a-f]{64}$/)
    const path = join(dir, 'secrets.json')
    expect(existsSync(path)).toBe(true)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const second = loadConfig({ DATA_DIR: dir })
    expect(second.JWT_SECRET).toBe(first.JWT_SECRET)
    expect(second.ENCRYPTION_KEY).toBe(first.ENCRYPTION_KEY)
    expect(JSON.parse(readFileSync(path, 'utf8')).JWT_SECRET).toBe(first.JWT_SECRET)
  })

  test('configured secrets are used as given and nothing is written', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'enclava-data-')), 'sub')
    const key = 'ab'.repeat(32)
    const c = loadConfig({ DATA_DIR: dir, JWT_SECRET: 'x'.repeat(40), ENCRYPTION_KEY: key })
    expect(c.JWT_SECRET).toBe('x'.repeat(40))
    expect(c.ENCRYPTION_KEY).toBe(key)
    expect(existsSync(join(dir, 'secrets.json'))).toBe(false)
  })
})

describe('documentation', () => {
  test('every setting has a description (for --help) and a row in the README table', () => {
    const readme = readFileSync(join(import.meta.dir, '..', 'README.md'), 'utf8')
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('### Real PostgreSQL'))
    for (const [name, schema] of Object.entries(ConfigSchema.properties)) {
      expect({ name, description: typeof schema.description }).toEqual({ name, description: 'string' })
      expect({ name, inReadme: table.includes(`| \`${name}\``) || table.includes(`/ \`${name}\``) }).toEqual({ name, inReadme: true })
    }
  })

  test('defaults given by the caller (the single binary) lose to the file and the environment', () => {
    const defaults = { PLUGINS_DIRS: '/runtime/plugins', WEB_DIST_DIR: '/runtime/web/dist' }
    expect(parseConfig({}, defaults)).toMatchObject(defaults)
    expect(parseConfig({ PLUGINS_DIRS: 'mine' }, defaults)).toMatchObject({ PLUGINS_DIRS: 'mine', WEB_DIST_DIR: '/runtime/web/dist' })
    expect(() => parseConfig({}, { PORT: 'x' })).toThrow('PORT: expected an integer')
  })
})
