/**
 * What plugins leave behind is bounded: log bytes admitted per minute (the rest dropped and counted in one line),
 * bytes kept per plugin (oldest removed first), days kept; host-call audit rows are summed up past their rate.
 */
import { afterAll, afterEach, beforeAll, expect, setSystemTime, test } from 'bun:test'
import { migrate } from '../db/migrate.ts'
import { testDatabase, type TestDatabase } from '../../test/harness.ts'
import { createLogger } from '../log.ts'
import { PluginRecords } from './records.ts'

let db: TestDatabase
beforeAll(async () => {
  db = await testDatabase()
  await migrate(db.sql)
  await db.sql`INSERT INTO plugins (name, version, manifest, source, path, code_hash) VALUES ('p', '1.0.0', '{}', 'bundled', '/x', 'h'), ('q', '1.0.0', '{}', 'bundled', '/y', 'h')`
})
afterAll(() => db.drop())
afterEach(() => setSystemTime())

const records = (limits: Partial<ConstructorParameters<typeof PluginRecords>[1]> = {}) =>
  new PluginRecords({ sql: db.sql, log: createLogger('silent') }, { maxLogBytes: 1_000_000, retentionDays: 7, logBytesPerMinute: 10_000, ...limits })
const stored = async (plugin: string) =>
  Number((await db.sql<{ b: string }[]>`SELECT coalesce(sum(octet_length(message)), 0) AS b FROM plugin_logs WHERE plugin = ${plugin}`)[0]!.b)

test('past the bytes a minute admits, lines are dropped, and one line says how many once the minute is over', async () => {
  await db.sql`DELETE FROM plugin_logs`
  setSystemTime(new Date('2030-01-01T10:00:05Z'))
  const r = records()
  const line = 'x'.repeat(1_000)
  for (let i = 0; i < 50; i++) r.log('p', 'info', line, 'inv')
  r.log('q', 'info', 'a neighbour is not affected', 'inv')
  await r.flush()
  expect(await stored('p')).toBe(10_000)
  expect(await stored('q')).toBeGreaterThan(0)
  setSystemTime(new Date('2030-01-01T10:01:01Z'))
  await r.flush()
  const [marker] = await db.sql<{ level: string; message: string }[]>`SELECT level, message FROM plugin_logs WHERE plugin = 'p' AND level = 'warn'`
  expect(marker?.message).toBe('40 log lines (40000 bytes) dropped: over the limit of 10000 bytes or 156 lines per minute')
})

test("U+0000 in one plugin's log line or host-call detail is stored as U+FFFD, and its neighbours' rows in the same batch are written", async () => {
  await db.sql`DELETE FROM plugin_logs`
  await db.sql`DELETE FROM plugin_audit`
  const r = records()
  r.log('q', 'info', 'a neighbour', 'inv')
  r.log('p', 'info', 'nul \u0000 here', 'inv')
  r.audit('q', 'inv', 'kv.get', true, 'key neighbour')
  r.audit('p', 'inv', 'config.get', true, 'key a\u0000b')
  await r.flush()
  expect([...(await db.sql`SELECT plugin, message FROM plugin_logs ORDER BY plugin`)]).toEqual([
    { plugin: 'p', message: 'nul \uFFFD here' },
    { plugin: 'q', message: 'a neighbour' },
  ])
  expect([...(await db.sql`SELECT plugin, detail FROM plugin_audit ORDER BY plugin`)]).toEqual([
    { plugin: 'p', detail: 'key a\uFFFDb' },
    { plugin: 'q', detail: 'key neighbour' },
  ])
})

test('a plugin keeps only its newest log bytes up to the cap; others keep theirs', async () => {
  await db.sql`DELETE FROM plugin_logs`
  const r = records({ maxLogBytes: 20_000, logBytesPerMinute: 1_000_000 })
  r.log('q', 'info', 'q line', null)
  for (let i = 0; i < 100; i++) {
    r.log('p', 'info', `${String(i).padStart(3, '0')} ${'y'.repeat(996)}`, null)
    if (i % 10 === 9) await r.flush()
  }
  await r.flush()
  await r.trim('p')
  expect(await stored('p')).toBeLessThanOrEqual(20_000)
  const kept = await db.sql<{ message: string }[]>`SELECT message FROM plugin_logs WHERE plugin = 'p' ORDER BY id`
  expect(kept.at(-1)?.message.startsWith('099 ')).toBe(true)
  expect(kept.length).toBeGreaterThan(10)
  expect(await stored('q')).toBe(6)
})

test('old records go after the retention period', async () => {
  await db.sql`DELETE FROM plugin_logs`
  await db.sql`INSERT INTO plugin_logs (plugin, level, message, created_at) VALUES ('p', 'info', 'old', now() - interval '8 days'), ('p', 'info', 'new', now())`
  await db.sql`INSERT INTO plugin_audit (plugin, call, allowed, created_at) VALUES ('p', 'kv.get', true, now() - interval '8 days')`
  await records().prune()
  expect((await db.sql`SELECT message FROM plugin_logs WHERE plugin = 'p'`).map((r) => r.message)).toEqual(['new'])
  expect(await db.sql`SELECT 1 FROM plugin_audit WHERE created_at < now() - interval '7 days'`).toHaveLength(0)
})

test('audit rows past the rate are summed up in one row, allowed and refused calls kept as such', async () => {
  await db.sql`DELETE FROM plugin_audit`
  setSystemTime(new Date('2030-01-01T11:00:00Z'))
  const r = records({ auditRowsPerMinute: 5 })
  for (let i = 0; i < 8; i++) r.audit('p', 'inv', 'kv.set', i % 2 === 0, `key k${i}`)
  await r.flush()
  setSystemTime(new Date('2030-01-01T11:01:00Z'))
  await r.flush()
  const rows = await db.sql<{ call: string; allowed: boolean; detail: string }[]>`SELECT call, allowed, detail FROM plugin_audit WHERE plugin = 'p' ORDER BY id`
  expect(rows.map((a) => a.allowed).slice(0, 5)).toEqual([true, false, true, false, true])
  expect(rows.at(-1)).toEqual({ call: 'summary', allowed: true, detail: '3 more host calls in that minute, not recorded one by one' })
})
