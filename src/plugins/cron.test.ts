/**
 * Cron jobs that run long: capped by the platform's wall-clock limit, never overlapping with their own previous
 * run on any replica, and not held up forever by a run a stopped replica left behind.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { LIMIT_CAPS } from './manifest.ts'

const dir = mkdtempSync(join(tmpdir(), 'enclava-cron-'))

// The job's work: a request that this server answers only once the test opens the gate.
let holds = 0
let arrived: () => void = () => {}
let open: () => void = () => {}
let gate = Promise.resolve()
const closeGate = () => {
  gate = new Promise<void>((r) => (open = r))
  return new Promise<void>((r) => (arrived = r))
}
const remote = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch() {
    holds++
    arrived()
    await gate
    return new Response('done')
  },
})

mkdirSync(join(dir, 'sleeper', 'src'), { recursive: true })
writeFileSync(
  join(dir, 'sleeper', 'plugin.json'),
  JSON.stringify({
    name: 'sleeper',
    version: '1.0.0',
    permissions: { net: [`127.0.0.1:${remote.port}`] },
    // Only on 29 February, so the runner's own timer never runs it during the test; the tests tick by hand.
    cron: [{ name: 'hold', schedule: '* 12 29 2 *', timeout_ms: 3_600_000 }],
  }),
)
writeFileSync(
  join(dir, 'sleeper', 'src', 'index.ts'),
  `import { BasePlugin } from 'enclava:plugin'
export default class Sleeper extends BasePlugin {
  override cron = { hold: async () => { await (await fetch('http://127.0.0.1:${remote.port}/hold')).text() } }
}
`,
)

let env: TestEnv
let replica: TestEnv

beforeAll(async () => {
  env = await createTestEnv({ PLUGINS_DIRS: dir })
  expect((await env.call('POST', '/api-internal/v1/plugin-admin/plugins/sleeper/enable', { token: await env.adminToken(), body: {} })).status).toBe(200)
  replica = await createTestEnv({ PLUGINS_DIRS: dir }, env)
})
afterAll(async () => {
  open()
  await replica.close()
  await env.close()
  remote.stop(true)
  rmSync(dir, { recursive: true, force: true })
})

const runs = async (minute: string) => [
  ...(await env.s.sql<{ status: string; error: string | null }[]>`
    SELECT status, error FROM plugin_cron_runs WHERE plugin = 'sleeper' AND scheduled_for = ${new Date(`2028-02-29T12:${minute}:00Z`)}`),
]
const at = (minute: string) => new Date(`2028-02-29T12:${minute}:05Z`)

describe('cron', () => {
  test("a job's timeout longer than the platform's wall-clock cap is cut to the cap", async () => {
    const plugins = env.s.plugins
    const invoke = plugins.invoke
    const asked: (number | undefined)[] = []
    plugins.invoke = (...args: Parameters<typeof invoke>) => {
      asked.push(args[4])
      return invoke.apply(plugins, args)
    }
    try {
      await plugins.cron.tick(at('00'))
    } finally {
      plugins.invoke = invoke
    }
    expect(asked).toEqual([LIMIT_CAPS.wall_ms])
    expect(await runs('00')).toEqual([{ status: 'ok', error: null }])
  })

  test('a tick due while the previous run still goes on another replica is skipped, not run alongside', async () => {
    const started = closeGate()
    const before = holds
    const first = env.s.plugins.cron.tick(at('01'))
    await started
    await replica.s.plugins.cron.tick(at('02'))
    expect(await runs('02')).toEqual([{ status: 'skipped', error: 'the previous run had not finished' }])
    expect(holds).toBe(before + 1)
    open()
    await first
    expect(await runs('01')).toEqual([{ status: 'ok', error: null }])
    // Finished: the next tick runs again.
    await replica.s.plugins.cron.tick(at('03'))
    expect(await runs('03')).toEqual([{ status: 'ok', error: null }])
    expect(holds).toBe(before + 2)
  })

  test('a run left "running" by a replica that stopped holds the job only until its deadline', async () => {
    await env.s.sql`
      INSERT INTO plugin_cron_runs (plugin, job, scheduled_for, replica, deadline)
      VALUES ('sleeper', 'hold', ${new Date('2028-02-29T12:04:00Z')}, 'gone', now() + interval '1 hour')`
    await env.s.plugins.cron.tick(at('05'))
    expect(await runs('05')).toEqual([{ status: 'skipped', error: 'the previous run had not finished' }])
    // Its deadline passes.
    await env.s.sql`UPDATE plugin_cron_runs SET deadline = now() - interval '1 second' WHERE replica = 'gone'`
    await env.s.plugins.cron.tick(at('06'))
    expect(await runs('06')).toEqual([{ status: 'ok', error: null }])
    expect(await runs('04')).toEqual([{ status: 'error', error: 'the replica running it stopped before it finished' }])
  })

  test('stopping the plugins ends a run that hangs at once: shutdown never waits for plugin code', async () => {
    const started = closeGate()
    const run = replica.s.plugins.cron.tick(at('07'))
    await started
    const outcome = await Promise.race([replica.s.plugins.stop().then(() => 'stopped'), Bun.sleep(10_000).then(() => 'still waiting')])
    expect(outcome).toBe('stopped')
    await run
    const [recorded] = await runs('07')
    expect(recorded?.status).toBe('error')
    open()
  })
})
