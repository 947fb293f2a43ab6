/**
 * A replica's loaded plugins follow their rows whatever the order of the changes that reach it: an administrator's
 * action, a message from another replica, the periodic resync.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

const dir = mkdtempSync(join(tmpdir(), 'enclava-sync-'))
mkdirSync(join(dir, 'echo', 'src'), { recursive: true })
writeFileSync(join(dir, 'echo', 'plugin.json'), JSON.stringify({ name: 'echo', version: '1.0.0', routes: [{ method: 'GET', path: '/ping', auth: 'public' }] }))
writeFileSync(
  join(dir, 'echo', 'src', 'index.ts'),
  `import { BasePlugin } from 'enclava:plugin'\nexport default class Echo extends BasePlugin { override routes = { 'GET /ping': () => new Response('pong') } }\n`,
)

let env: TestEnv
beforeAll(async () => {
  env = await createTestEnv({ PLUGINS_DIRS: dir })
})
afterAll(async () => {
  await env.close()
  rmSync(dir, { recursive: true, force: true })
})

const A = '/api-internal/v1/plugin-admin/plugins/echo'

test('enabling a plugin while the replica resyncs it enables and serves it', async () => {
  const token = await env.adminToken()
  for (let i = 0; i < 5; i++) {
    expect((await env.call('POST', `${A}/disable`, { token })).status).toBe(200)
    // New code on disk since it last ran, so enabling it loads it afresh.
    await env.s.sql`UPDATE plugins SET code_hash = ${`changed-${i}`} WHERE name = 'echo'`
    const resyncs = (async () => {
      for (let j = 0; j < 20; j++) await env.s.plugins.resync()
    })()
    const [enabled] = await Promise.all([env.call('POST', `${A}/enable`, { token, body: {} }), resyncs])
    expect(enabled.status).toBe(200)
    expect(enabled.body.enabled).toBe(true)
    expect(await (await env.app.handle(new Request('http://localhost/api/v1/plugins/echo/ping'))).text()).toBe('pong')
  }
})
