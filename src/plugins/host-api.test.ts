/**
 * Host calls under production conditions: many at once, slow upstreams, and invocations that end while their host
 * calls are still running.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { backend, createTestEnv, type TestEnv } from '../../test/harness.ts'

const dir = mkdtempSync(join(tmpdir(), 'enclava-hostapi-'))

// A remote API as plugins meet it: one that never finishes a slow answer, and one that streams big bodies in
// chunks without a content-length.
let slowAborted: () => void = () => {}
const slowWasAborted = new Promise<void>((r) => (slowAborted = r))
const MB = 1024 * 1024
const remote = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  fetch(req) {
    if (new URL(req.url).pathname === '/slow') {
      req.signal.addEventListener('abort', () => slowAborted(), { once: true })
      return new Promise<Response>(() => {})
    }
    let sent = 0
    const chunk = new Uint8Array(64 * 1024).fill(120)
    return new Response(
      new ReadableStream({
        pull(c) {
          if (sent >= 4 * MB) return c.close()
          c.enqueue(chunk)
          sent += chunk.byteLength
        },
      }),
    )
  },
})
const origin = `http://127.0.0.1:${remote.port}`

function writePlugin(name: string, manifest: Record<string, unknown>, code: string) {
  mkdirSync(join(dir, name, 'src'), { recursive: true })
  writeFileSync(join(dir, name, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', ...manifest }, null, 2))
  writeFileSync(join(dir, name, 'src', 'index.ts'), code)
}

/** A plugin holding kv (quota in KB) with one public POST route; `body` is the handler's, with `req` and `ctx`. */
function kvPlugin(name: string, quotaKb: number, path: string, body: string) {
  writePlugin(
    name,
    { permissions: { kv: { quota_kb: quotaKb } }, routes: [{ method: 'POST', path, auth: 'public' }] },
    `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class P extends BasePlugin {
  override routes = {
    'POST ${path}': async (req: Request, ctx: PluginContext) => {
${body}
    },
  }
}
`,
  )
}

kvPlugin(
  'filler',
  4,
  '/fill',
  `      const value = 'x'.repeat(1000)
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => ctx.kv.set('k' + i, value)))
      return Response.json({ stored: results.filter((r) => r.status === 'fulfilled').length })`,
)

kvPlugin(
  'churner',
  64,
  '/churn',
  `      // Writers side by side on a few keys: new keys, overwrites of other sizes, deletes, some of keys not there.
      const ops = Array.from({ length: 60 }, (_, i) => {
        const key = 'k' + (i % 7)
        return i % 5 === 4 ? ctx.kv.delete(key) : ctx.kv.set(key, 'y'.repeat(10 + ((i * 37) % 900)))
      })
      const results = await Promise.allSettled(ops)
      return Response.json({ failed: results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason?.code ?? String((r as PromiseRejectedResult).reason)) })`,
)

kvPlugin(
  'cacher',
  4,
  '/cache/:key',
  `      try {
        await ctx.kv.set(ctx.params.key!, await req.text(), { ttlSeconds: 60 })
        return Response.json({ ok: true })
      } catch (err) {
        return Response.json({ ok: false, code: (err as { code?: string }).code })
      }`,
)

kvPlugin(
  'roundtrip',
  64,
  '/roundtrip',
  `      // Each value goes in as the request sent it and comes back out of kv; a second encoding (or none) changes it.
      const values = (await req.json()) as unknown[]
      const out: unknown[] = []
      try {
        for (const [i, value] of values.entries()) {
          await ctx.kv.set('v' + i, value)
          out.push(await ctx.kv.get('v' + i))
        }
      } catch (err) {
        return Response.json({ error: String(err), code: (err as { code?: string }).code }, { status: 500 })
      }
      return Response.json(out)`,
)

writePlugin(
  'keeper',
  {
    permissions: { kv: { quota_kb: 64 } },
    routes: [
      { method: 'POST', path: '/kv/:key', auth: 'public' },
      { method: 'GET', path: '/kv/:key', auth: 'public' },
      { method: 'DELETE', path: '/kv/:key', auth: 'public' },
    ],
  },
  `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Keeper extends BasePlugin {
  override routes = {
    'POST /kv/:key': async (req: Request, ctx: PluginContext) => {
      const { value, ttl } = (await req.json()) as { value: unknown; ttl?: number }
      await ctx.kv.set(ctx.params.key!, value, ttl === undefined ? undefined : { ttlSeconds: ttl })
      return Response.json({ ok: true })
    },
    'GET /kv/:key': async (_req: Request, ctx: PluginContext) => Response.json({ value: await ctx.kv.get(ctx.params.key!) }),
    'DELETE /kv/:key': async (_req: Request, ctx: PluginContext) => {
      await ctx.kv.delete(ctx.params.key!)
      return Response.json({ ok: true })
    },
  }
}
`,
)

writePlugin(
  'waiter',
  { permissions: { net: [`127.0.0.1:${remote.port}`] }, routes: [{ method: 'GET', path: '/slow', auth: 'public' }], limits: { wall_ms: 500 } },
  `import { BasePlugin } from 'enclava:plugin'
export default class Waiter extends BasePlugin {
  override routes = { 'GET /slow': async () => fetch('${origin}/slow') }
}
`,
)

writePlugin(
  'bulk',
  { permissions: { net: [`127.0.0.1:${remote.port}`] }, routes: [{ method: 'GET', path: '/big', auth: 'public' }], limits: { memory_mb: 128 } },
  `import { BasePlugin } from 'enclava:plugin'
export default class Bulk extends BasePlugin {
  override routes = {
    'GET /big': async () => {
      const results = await Promise.allSettled([1, 2, 3].map(async () => (await fetch('${origin}/big')).arrayBuffer()))
      return Response.json(results.map((r) => (r.status === 'fulfilled' ? r.value.byteLength : (r.reason as { code?: string }).code)))
    },
  }
}
`,
)

let env: TestEnv

beforeAll(async () => {
  // The churn test writes faster than a plugin may by default (kv_rate_limited is tested in test/plugin-hostile.test.ts).
  env = await createTestEnv({ PLUGINS_DIRS: dir, PLUGIN_KV_WRITES_PER_SECOND: '10000' })
})
afterAll(async () => {
  await env.close()
  remote.stop(true)
  rmSync(dir, { recursive: true, force: true })
})

const A = '/api-internal/v1/plugin-admin/plugins'
const enable = async (name: string) => env.call('POST', `${A}/${name}/enable`, { token: await env.adminToken(), body: {} })
const pub = (path: string, init: RequestInit = {}) => env.app.handle(new Request(`http://localhost/api/v1/plugins${path}`, init))

describe('kv', () => {
  test('concurrent writes of new keys never take the plugin past its quota together', async () => {
    expect((await enable('filler')).status).toBe(200)
    // A busy server's pool has its connections open, so the writes really run side by side.
    await Promise.all(Array.from({ length: 5 }, () => env.s.sql`SELECT pg_sleep(0.05)`))
    const res = await pub('/filler/fill', { method: 'POST' })
    expect(res.status).toBe(200)
    const { stored } = (await res.json()) as { stored: number }
    const [used] = await env.s.sql<{ bytes: number }[]>`SELECT coalesce(sum(bytes), 0)::int AS bytes FROM plugin_kv WHERE plugin = 'filler'`
    expect(used!.bytes).toBeLessThanOrEqual(4 * 1024)
    expect(stored).toBe(4)
  })

  test("the plugin's running total stays what its entries hold through concurrent sets, overwrites and deletes", async () => {
    expect((await enable('churner')).status).toBe(200)
    await Promise.all(Array.from({ length: 5 }, () => env.s.sql`SELECT pg_sleep(0.05)`))
    for (let round = 0; round < 3; round++) {
      const res = await pub('/churner/churn', { method: 'POST' })
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ failed: [] })
      const [held] = await env.s.sql<{ bytes: number; keys: number }[]>`
        SELECT coalesce(sum(bytes), 0)::int AS bytes, count(*)::int AS keys FROM plugin_kv WHERE plugin = 'churner'`
      const [total] = await env.s.sql<{ bytes: number; keys: number }[]>`SELECT bytes::int, keys FROM plugin_kv_usage WHERE plugin = 'churner'`
      expect(total).toEqual(held!)
      expect(held!.keys).toBeGreaterThan(0)
    }
  })

  test('values of every JSON type come back as they were written, and their bytes are what was counted', async () => {
    expect((await enable('roundtrip')).status).toBe(200)
    const values = ['text', '{"looks":"like json"}', '"quoted"', 'ünïcødé ✓', 'a backslash and u0000: \\u0000', 0, -1.5, 1e21, true, false, null, [], {}, [1, 'a', null, [2]], { a: { b: [{ c: 'd' }] }, e: null }]
    const res = await pub('/roundtrip/roundtrip', { method: 'POST', body: JSON.stringify(values) })
    if (res.status !== 200) throw new Error(await res.text())
    expect(await res.json()).toEqual(values)
    const rows = await env.s.sql<{ key: string; bytes: number }[]>`SELECT key, bytes FROM plugin_kv WHERE plugin = 'roundtrip' ORDER BY key`
    for (const row of rows) expect(row.bytes).toBe(Buffer.byteLength(JSON.stringify(values[Number(row.key.slice(1))])) + row.key.length)
    expect(rows.length).toBe(values.length)
  })

  test('U+0000, which PostgreSQL cannot store, is refused as bad_request naming where it is, in values and keys', async () => {
    for (const [values, message] of [
      [['a\u0000b'], 'kv values may not contain U+0000 (at the value itself)'],
      [[{ list: ['ok', 'x\u0000'] }], 'kv values may not contain U+0000 (at list.1)'],
      [[{ ['key\u0000']: 1 }], 'kv values may not contain U+0000'],
    ] as const) {
      const res = await pub('/roundtrip/roundtrip', { method: 'POST', body: JSON.stringify(values) })
      expect(res.status).toBe(500)
      const body = (await res.json()) as { error: string; code: string }
      expect(body.code).toBe('bad_request')
      expect(body.error).toContain(message)
    }
  })

  test('entries that expired no longer count against the quota', async () => {
    expect((await enable('cacher')).status).toBe(200)
    const put = async (key: string) => (await (await pub(`/cacher/cache/${key}`, { method: 'POST', body: 'x'.repeat(1500) })).json()) as { ok: boolean; code?: string }
    expect(await put('a')).toEqual({ ok: true })
    expect(await put('b')).toEqual({ ok: true })
    expect(await put('c')).toEqual({ ok: false, code: 'kv_quota_exceeded' })
    // Their minute has passed.
    await env.s.sql`UPDATE plugin_kv SET expires_at = now() - interval '1 second' WHERE plugin = 'cacher'`
    expect(await put('c')).toEqual({ ok: true })
    expect(await put('d')).toEqual({ ok: true })
  })
})

describe('kv reads kept in memory', () => {
  const put = async (key: string, value: unknown, ttl?: number) =>
    expect((await pub(`/keeper/kv/${key}`, { method: 'POST', body: JSON.stringify({ value, ...(ttl === undefined ? {} : { ttl }) }) })).status).toBe(200)
  const read = async (key: string) => (await pub(`/keeper/kv/${key}`)).text()
  const stored = async (key: string) => {
    const [row] = await env.s.sql<{ value: unknown }[]>`SELECT value FROM plugin_kv WHERE plugin = 'keeper' AND key = ${key}`
    return row ? JSON.stringify({ value: row.value }) : null
  }

  beforeAll(async () => {
    expect((await enable('keeper')).status).toBe(200)
  })

  test('a value comes back as the database gives it, keys in its order, whether read from memory or from a statement', async () => {
    // As JSON text: a parsed "__proto__" is a key like any other, as in a client's body.
    const values = [
      '{"bb": 1, "a": 2, "10": 3, "ccc": {"z": 1, "y": [{"bb": 0, "a": 0}]}, "é": 4, "e": 5, "ü-long": 6, "9": 7, "A": 8, "": 9}',
      '{"__proto__": 1, "constructor": 2}',
      '[1e21, 0.1, 5e-324, 1152921504606846976, -1.5, "ünï\\n\\"q\\""]',
    ]
    for (const [i, text] of values.entries()) {
      await put(`v${i}`, JSON.parse(text))
      const fromMemoryOrNot = await read(`v${i}`)
      expect(fromMemoryOrNot).toBe((await stored(`v${i}`))!)
    }
  })

  test(`reads after a write are answered ${backend === 'embedded' ? 'from memory (this process is the only writer)' : 'by the database (other replicas write too)'}`, async () => {
    await put('mine', { n: 1 })
    // A change the host API did not make: only a reader that goes to the database sees it.
    await env.s.sql`UPDATE plugin_kv SET value = '{"n": 2}'::jsonb WHERE plugin = 'keeper' AND key = 'mine'`
    expect(JSON.parse(await read('mine'))).toEqual({ value: { n: backend === 'embedded' ? 1 : 2 } })
    // Written again through the plugin: the new value either way.
    await put('mine', { n: 3 })
    expect(JSON.parse(await read('mine'))).toEqual({ value: { n: 3 } })
  })

  test('an entry read from memory still expires, and a deleted key reads as nothing', async () => {
    await put('brief', 'soon gone', 0.3)
    expect(JSON.parse(await read('brief'))).toEqual({ value: 'soon gone' })
    await Bun.sleep(400)
    expect(JSON.parse(await read('brief'))).toEqual({ value: null })
    await put('gone', 'here')
    expect(JSON.parse(await read('gone'))).toEqual({ value: 'here' })
    expect((await pub('/keeper/kv/gone', { method: 'DELETE' })).status).toBe(200)
    expect(JSON.parse(await read('gone'))).toEqual({ value: null })
  })

  test('an overwrite of the same size writes the entry only; a new size, a new key and a delete move the running total', async () => {
    const usage = async () => {
      const [row] = await env.s.sql<{ version: string; bytes: number; keys: number }[]>`
        SELECT xmin::text AS version, bytes::int, keys FROM plugin_kv_usage WHERE plugin = 'keeper'`
      return row!
    }
    const held = async () => {
      const [row] = await env.s.sql<{ bytes: number; keys: number }[]>`
        SELECT coalesce(sum(bytes), 0)::int AS bytes, count(*)::int AS keys FROM plugin_kv WHERE plugin = 'keeper'`
      return row!
    }
    await put('counter', 10)
    const before = await usage()
    await put('counter', 11)
    // The same row version: the kv.set neither locked the row by writing it nor wrote a total that did not move.
    expect(await usage()).toEqual(before)
    expect(await stored('counter')).toBe('{"value":11}')
    await put('counter', 100)
    const grown = await usage()
    expect(grown.version).not.toBe(before.version)
    expect([grown.bytes - before.bytes, grown.keys - before.keys]).toEqual([1, 0])
    await put('another', 1)
    expect((await usage()).keys).toBe(before.keys + 1)
    expect((await pub('/keeper/kv/another', { method: 'DELETE' })).status).toBe(200)
    const { bytes, keys } = await usage()
    expect({ bytes, keys }).toEqual(await held())
  })

  test('an uninstalled plugin installed again starts with no values', async () => {
    await put('kept', 'from before')
    expect(JSON.parse(await read('kept'))).toEqual({ value: 'from before' })
    const admin = await env.adminToken()
    expect((await env.call('DELETE', `${A}/keeper`, { token: admin })).status).toBe(204)
    expect((await env.call('POST', `${A}/discover`, { token: admin, body: {} })).status).toBe(200)
    expect((await enable('keeper')).status).toBe(200)
    expect(JSON.parse(await read('kept'))).toEqual({ value: null })
  })
})

describe('fetch', () => {
  test('a fetch still running when its invocation hits the wall-clock limit is stopped with it', async () => {
    expect((await enable('waiter')).status).toBe(200)
    const res = await pub('/waiter/slow')
    expect(res.status).toBe(500)
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('wall_time_exceeded')
    await slowWasAborted
    let audit: { detail: string }[] = []
    while (audit.length === 0) {
      audit = await env.s.sql<{ detail: string }[]>`SELECT detail FROM plugin_audit WHERE plugin = 'waiter' AND call = 'fetch'`
      await Bun.sleep(20)
    }
    // Stopped because the invocation ended, not by the fetch's own (much later) timeout.
    expect(audit.map((a) => a.detail)).toEqual(['stopped: the invocation ended first'])
  })

  test('concurrent fetches of one invocation share its byte cap instead of each getting all of it', async () => {
    expect((await enable('bulk')).status).toBe(200)
    const res = await pub('/bulk/big')
    expect(res.status).toBe(200)
    const results = (await res.json()) as (number | string)[]
    const received = results.filter((r): r is number => typeof r === 'number').reduce((a, b) => a + b, 0)
    expect(received).toBeLessThanOrEqual(10 * MB)
    expect(results).toContain('response_too_large')
  })
})
