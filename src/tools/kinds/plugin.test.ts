/**
 * Plugin tools through the platform's tools engine, with real plugins in their sandboxes: a tool declared in the
 * manifest and not implemented (or the reverse) is refused by `validate` and at load; only the tools an
 * administrator granted to agents resolve; a granted tool runs under the plugin's grants (its kv, never the
 * caller's), told who asked; whatever goes wrong (a throw, a limit, a refused host call, a disabled plugin) comes
 * back as a tool result the model reads.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestEnv, type TestEnv } from '../../../test/harness.ts'
import { validate } from '../../../scripts/plugin.ts'
import type { Caller } from '../../gateway/service.ts'
import type { ApiError } from '../../http/errors.ts'
import type { Tool, ToolResult, ToolSpec } from '../types.ts'

const dir = mkdtempSync(join(tmpdir(), 'enclava-plugin-tools-'))
const NO_ARGS = { type: 'object', properties: {}, additionalProperties: false }

function writePlugin(name: string, manifest: Record<string, unknown>, code: string) {
  mkdirSync(join(dir, name, 'src'), { recursive: true })
  writeFileSync(join(dir, name, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', ...manifest }, null, 2))
  writeFileSync(join(dir, name, 'src', 'index.ts'), code)
}

writePlugin(
  'toolbox',
  {
    permissions: { kv: { quota_kb: 4 } },
    limits: { cpu_ms: 100 },
    tools: [
      {
        name: 'remember',
        description: 'Stores a note under a key',
        parameters: { type: 'object', properties: { key: { type: 'string' }, note: { type: 'string' } }, required: ['key', 'note'] },
      },
      { name: 'recall', description: 'Reads a note', parameters: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] } },
      { name: 'whoami', description: 'Who is asking', parameters: NO_ARGS },
      { name: 'fail', description: 'Always fails', parameters: NO_ARGS },
      { name: 'spin', description: 'Never ends', parameters: NO_ARGS },
      { name: 'text', description: 'Answers in words', parameters: NO_ARGS },
    ],
  },
  `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Toolbox extends BasePlugin {
  override tools = {
    remember: async (args: Record<string, unknown>, ctx: PluginContext) => {
      await ctx.kv.set('note:' + String(args.key), args.note)
      return { stored: args.key }
    },
    recall: async (args: Record<string, unknown>, ctx: PluginContext) => ({ note: await ctx.kv.get('note:' + String(args.key)) }),
    whoami: (_args: Record<string, unknown>, ctx: PluginContext) => ctx.identity,
    fail: () => { throw new Error('no such city: Atlantis') },
    spin: () => { for (;;) {} },
    text: () => 'Twelve apples.',
  }
}
`,
)

// Asks for nothing: its tool tries kv anyway, which its grant does not allow whoever calls it.
writePlugin(
  'nokv',
  { tools: [{ name: 'peek', description: "Tries to read the toolbox's notes", parameters: NO_ARGS }] },
  `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class NoKv extends BasePlugin {
  override tools = { peek: async (_args: Record<string, unknown>, ctx: PluginContext) => ctx.kv.get('note:milk') }
}
`,
)

writePlugin(
  'declared-only',
  { tools: [{ name: 'ghost', description: 'Declared, never written', parameters: NO_ARGS }] },
  `import { BasePlugin } from 'enclava:plugin'
export default class DeclaredOnly extends BasePlugin {}
`,
)

writePlugin(
  'code-only',
  {},
  `import { BasePlugin } from 'enclava:plugin'
export default class CodeOnly extends BasePlugin {
  override tools = { hidden: () => 'never declared' }
}
`,
)

let env: TestEnv
let admin: string
let caller: Caller
const A = '/api-internal/v1/plugin-admin/plugins'
const enable = (name: string, grant?: unknown) => env.call('POST', `${A}/${name}/enable`, { token: admin, body: grant === undefined ? {} : { grant } })
const never = () => new AbortController().signal
const spec = (plugin: string, tool: string): ToolSpec => ({ type: 'plugin', plugin, tool })

/** The ApiError resolve() refuses with (anything else fails the test). */
async function refusal(specs: ToolSpec[]): Promise<ApiError> {
  const err = await env.s.tools.resolve(specs, caller).then(
    () => null,
    (e: unknown) => e as ApiError,
  )
  if (err === null) throw new Error('expected resolve() to refuse')
  return err
}

async function call(tools: Tool[], name: string, args: unknown = {}): Promise<ToolResult> {
  return (await env.s.tools.call(tools, name, JSON.stringify(args), { caller, signal: never() })).result
}

beforeAll(async () => {
  env = await createTestEnv({ PLUGINS_DIRS: dir })
  admin = await env.adminToken()
  const user = await env.user('user')
  caller = { source: 'api', userId: user.id, apiKey: null, requestId: crypto.randomUUID(), startedAt: performance.now() }
})
afterAll(async () => {
  await env?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('declared and implemented must match', () => {
  test('validate reports a tool declared without a handler, and a handler without a declaration', async () => {
    const declared = await validate(join(dir, 'declared-only'))
    expect(declared.problems).toEqual(['plugin.json.tools: "ghost" has no handler in the class\'s tools'])
    const codeOnly = await validate(join(dir, 'code-only'))
    expect(codeOnly.problems).toEqual(['tools: the class implements "hidden", which plugin.json.tools does not declare (with a description and parameters)'])
    expect((await validate(join(dir, 'toolbox'))).problems).toEqual([])
  })

  test('the platform refuses to load either, naming the difference, and leaves it disabled', async () => {
    for (const [name, fragment] of [
      ['declared-only', '"ghost" has no handler'],
      ['code-only', 'the class implements "hidden"'],
    ]) {
      const res = await enable(name!)
      expect(res.status).toBe(422)
      expect(res.body.error.code).toBe('plugin_invalid')
      expect(res.body.error.message).toContain(fragment!)
      const row = (await env.call('GET', `${A}/${name}`, { token: admin })).body
      expect(row).toMatchObject({ enabled: false, loaded: false })
      expect(row.disabled_reason).toContain(fragment!)
    }
  })

  test('a manifest tool with an unusable schema or name is refused at discovery, naming the field', async () => {
    writePlugin('bad-schema', { tools: [{ name: 'x', description: 'd', parameters: { type: 'object', properties: { a: { $ref: '#/x' } } } }] }, 'export default class {}')
    writePlugin('bad-name', { tools: [{ name: 'has space', description: 'd', parameters: NO_ARGS }] }, 'export default class {}')
    writePlugin('twice', { tools: [{ name: 'a', description: 'd', parameters: NO_ARGS }, { name: 'a', description: 'd', parameters: NO_ARGS }] }, 'export default class {}')
    try {
      const found = await env.call('POST', `${A}/discover`, { token: admin })
      const failed = found.body.failed as { path: string; error: string }[]
      const why = (name: string) => failed.find((f) => f.path.endsWith(`/${name}`))?.error
      expect(why('bad-schema')).toBe('plugin.json.tools.x.parameters.properties.a.$ref: $ref is not supported: write the schema out in full')
      expect(why('bad-name')).toStartWith('plugin.json.tools.0.name:')
      expect(why('twice')).toBe('plugin.json.tools: "a" is declared twice')
    } finally {
      for (const name of ['bad-schema', 'bad-name', 'twice']) rmSync(join(dir, name), { recursive: true, force: true })
    }
  })
})

describe('grants', () => {
  test('the plugin lists its tools; enabling grants agents none of them unless the grant names them', async () => {
    const res = await enable('toolbox')
    expect(res.status).toBe(200)
    expect(res.body.tools.map((t: { name: string }) => t.name)).toEqual(['remember', 'recall', 'whoami', 'fail', 'spin', 'text'])
    expect(res.body.granted_permissions.tools).toBeUndefined()
    const err = await refusal([spec('toolbox', 'remember')])
    expect(err.code).toBe('permission_denied')
    expect(err.message).toBe(
      'Agents may not use the tool "remember" of plugin "toolbox": an administrator has not granted it (the tools agents may use are listed in the plugin\'s grant, "tools")',
    )
  })

  test('a grant naming a tool the plugin does not declare is refused', async () => {
    const res = await enable('toolbox', { kv: { quota_kb: 4 }, tools: ['remember', 'launch'] })
    expect(res.status).toBe(400)
    expect(res.body.error.message).toBe('The grant lets agents use tools the plugin does not declare: launch')
  })

  test('unknown plugins and tools are refused, naming what exists', async () => {
    expect((await refusal([spec('nowhere', 'x')])).message).toBe('Plugin "nowhere" is not installed')
    expect((await refusal([spec('toolbox', 'launch')])).message).toBe(
      'Plugin "toolbox" declares no tool "launch" (it declares: remember, recall, whoami, fail, spin, text)',
    )
  })

  test('granted tools resolve with the description and parameters of the manifest; the others still do not', async () => {
    expect((await enable('toolbox', { kv: { quota_kb: 4 }, tools: ['remember', 'recall', 'whoami', 'fail', 'spin', 'text'] })).status).toBe(200)
    const [remember] = await env.s.tools.resolve([spec('toolbox', 'remember')], caller)
    expect(remember).toMatchObject({
      kind: 'plugin',
      name: 'remember',
      description: 'Stores a note under a key',
      parameters: { type: 'object', properties: { key: { type: 'string' }, note: { type: 'string' } }, required: ['key', 'note'] },
    })
    expect((await enable('toolbox', { kv: { quota_kb: 4 }, tools: ['recall'] })).status).toBe(200)
    expect((await refusal([spec('toolbox', 'remember')])).code).toBe('permission_denied')
  })
})

describe('calls', () => {
  let tools: Tool[]
  beforeAll(async () => {
    expect((await enable('toolbox', { kv: { quota_kb: 4 }, tools: ['remember', 'recall', 'whoami', 'fail', 'spin', 'text'] })).status).toBe(200)
    tools = await env.s.tools.resolve(['remember', 'recall', 'whoami', 'fail', 'spin', 'text'].map((t) => spec('toolbox', t)), caller)
  })

  test("a granted tool runs in the plugin's sandbox with the plugin's kv, its result as JSON for the model", async () => {
    expect(await call(tools, 'remember', { key: 'milk', note: 'buy two litres' })).toEqual({ content: '{"stored":"milk"}' })
    expect(await call(tools, 'recall', { key: 'milk' })).toEqual({ content: '{"note":"buy two litres"}' })
    const [row] = await env.s.sql<{ value: unknown }[]>`SELECT value FROM plugin_kv WHERE plugin = 'toolbox' AND key = 'note:milk'`
    expect(row?.value).toBe('buy two litres')
    expect(await call(tools, 'text')).toEqual({ content: 'Twelve apples.' })
  })

  test('the plugin is told who asked, as plain data', async () => {
    const result = await call(tools, 'whoami')
    expect(JSON.parse(result.content)).toEqual({ source: 'tool', user_id: caller.userId, api_key_id: null, tool: 'whoami' })
  })

  test("what a plugin's grant does not allow, a tool of it cannot do, whoever calls it", async () => {
    expect((await enable('nokv', { tools: ['peek'] })).status).toBe(200)
    const peek = await env.s.tools.resolve([spec('nokv', 'peek')], caller)
    expect(await call(peek, 'peek')).toEqual({ content: 'The tool peek of plugin "nokv" failed: HostCallError: The plugin was not granted kv (its own storage)', isError: true })
  })

  test('a throw and a broken limit come back as error results, and the plugin keeps answering', async () => {
    expect(await call(tools, 'fail')).toEqual({ content: 'The tool fail of plugin "toolbox" failed: Error: no such city: Atlantis', isError: true })
    const spun = await call(tools, 'spin')
    expect(spun.isError).toBe(true)
    expect(spun.content).toBe('The tool spin of plugin "toolbox" exceeded a limit (cpu_time_exceeded): plugin toolbox used more than its cpuMs limit of 100 ms')
    expect(await call(tools, 'recall', { key: 'milk' })).toEqual({ content: '{"note":"buy two litres"}' })
  })

  test('every call is audited with its kind and counted in the plugin stats', async () => {
    const { record } = await env.s.tools.call(tools, 'recall', JSON.stringify({ key: 'milk' }), { caller, signal: never() })
    expect(record).toMatchObject({ tool: 'recall', kind: 'plugin', outcome: 'ok' })
    await env.s.plugins.records.flush()
    const kinds = await env.s.sql<{ kind: string }[]>`SELECT DISTINCT kind FROM plugin_invocations WHERE plugin = 'toolbox'`
    expect(kinds.map((k) => k.kind)).toEqual(['tool'])
  })

  test("a disabled plugin's tool still resolves, and each call says why it cannot run; enabled again, it runs", async () => {
    expect((await env.call('POST', `${A}/toolbox/disable`, { token: admin })).status).toBe(200)
    const again = await env.s.tools.resolve([spec('toolbox', 'recall')], caller)
    expect(await call(again, 'recall', { key: 'milk' })).toEqual({
      content: 'The plugin "toolbox" is disabled; its tool recall is unavailable until an administrator enables it again.',
      isError: true,
    })
    expect(await call(tools, 'recall', { key: 'milk' })).toMatchObject({ isError: true })
    expect((await enable('toolbox', { kv: { quota_kb: 4 }, tools: ['recall'] })).status).toBe(200)
    expect(await call(again, 'recall', { key: 'milk' })).toEqual({ content: '{"note":"buy two litres"}' })
    // Tools resolved before the grant shrank are refused at the call.
    expect(await call(tools, 'remember', { key: 'x', note: 'y' })).toEqual({ content: 'The tool remember of plugin "toolbox" is no longer granted to agents.', isError: true })
  })

  test('an enabled plugin that is not running on this server says so', async () => {
    const [recall] = await env.s.tools.resolve([spec('toolbox', 'recall')], caller)
    // New code without its tools: the reload is refused and the plugin stays enabled, not loaded.
    writeFileSync(join(dir, 'toolbox', 'src', 'index.ts'), 'export default class {}')
    const reload = await env.call('POST', `${A}/toolbox/reload`, { token: admin })
    expect(reload.status).toBe(422)
    expect(await call([recall!], 'recall', { key: 'milk' })).toEqual({
      content: 'The plugin "toolbox" is enabled but not running on this server now (it failed to load, or its sandbox is restarting); try again shortly.',
      isError: true,
    })
  })
})
