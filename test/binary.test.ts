/**
 * The single binary (`npm run build` -> dist/enclava) run as a deployment runs it: the one file copied into an
 * empty folder, started with a PATH that has no node and no bun (an empty folder), HOME and DATA_DIR in that
 * folder, and taken through the README's walkthrough over HTTP: readiness, the dashboard and one of its assets, the
 * widget script, sign-in, an API key, a chat through an OpenAI-compatible upstream (and a prompt large enough for
 * the token-counting worker), a PDF uploaded and found, a chatbot's answer, the hello plugin enabled, configured
 * (the settings-check worker) and called (the unpacked Node, isolated-vm and bundler), a plugin installed from a
 * zip (the archive worker). Then a second start on the same data, a damaged runtime replaced, and the command line.
 *
 * The binary is dist/enclava when dist/enclava.json says it was built from the current sources (scripts/build.ts
 * `sourcesHash`); otherwise this file builds it there first (about 15 s), so CI's second run of the suite reuses the
 * first one's. ENCLAVA_TEST_BUILD=0 never builds: a missing dist/enclava then skips this file, saying so.
 * Time to ready and size are printed. On DATABASE_URL/REDIS_URL the binary uses them, in a schema of its own.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { sourcesHash } from '../scripts/build.ts'
import { ConfigSchema } from '../src/config.ts'
import { pdfLibPdf } from '../src/rag/extract/testing.ts'
import { zip } from './fixtures/plugin-archives.ts'
import { startUpstream, type Upstream } from './fixtures/upstream.ts'
import { schemaName } from './harness.ts'
import { killLeftovers, ROOT, startServer, storeEnv, track, type Server } from './server-process.ts'

afterAll(killLeftovers)

const BINARY = join(ROOT, 'dist', 'enclava')
const ADMIN_PASSWORD = 'binary-admin-password'
const START_TIMEOUT_MS = 90_000

/** dist/enclava built from the current sources, building it when it is missing or stale; null to skip. */
function ensureBinary(): string | null {
  const hash = sourcesHash()
  const infoPath = join(ROOT, 'dist', 'enclava.json')
  const built = existsSync(infoPath) ? (JSON.parse(readFileSync(infoPath, 'utf8')) as { sources_sha256?: string }).sources_sha256 : undefined
  if (existsSync(BINARY) && built === hash) return BINARY
  if (process.env.ENCLAVA_TEST_BUILD === '0') {
    if (!existsSync(BINARY)) return null
    console.warn('binary.test: dist/enclava is older than the sources, and ENCLAVA_TEST_BUILD=0: testing it as it is')
    return BINARY
  }
  const started = performance.now()
  const proc = Bun.spawnSync([process.execPath, 'scripts/build.ts'], { cwd: ROOT, env: process.env, stdout: 'pipe', stderr: 'pipe' })
  if (proc.exitCode !== 0) throw new Error(`npm run build failed:\n${proc.stdout.toString()}\n${proc.stderr.toString()}`)
  console.log(`binary.test: built dist/enclava in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  return BINARY
}

const binary = ensureBinary()
if (binary === null) console.warn('binary.test: SKIPPED: dist/enclava is missing and ENCLAVA_TEST_BUILD=0 (run `npm run build`)')

interface Running extends Server {
  /** From exec to the first 200 of /health/ready. */
  readyMs: number
}

describe.skipIf(binary === null)('the single binary, alone in an empty folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'enclava-binary-'))
  const exe = join(dir, 'enclava')
  /** PATH: an empty folder, so neither node nor bun can be found. */
  const emptyPath = join(dir, 'empty-path')
  const dataDir = join(dir, 'data')
  const schema = schemaName('bin')
  let up: Upstream
  let env: Record<string, string>
  let server: Running
  let token = ''
  let key = ''

  const run = (args: string[], extra: Record<string, string> = {}) => {
    const proc = track(Bun.spawn([exe, ...args], { cwd: dir, env: { ...env, ...extra }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' }))
    return Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]).then(([code, stdout, stderr]) => ({ code, stdout, stderr }))
  }

  async function start(): Promise<Running> {
    const started = performance.now()
    const { proc, url, lines, exited } = await startServer(env, { command: [exe], cwd: dir })
    while ((await fetch(`${url}/health/ready`)).status !== 200) await Bun.sleep(10)
    return { proc, url, lines, readyMs: performance.now() - started, exited }
  }

  /** SIGTERM: exits 0, having logged no error (every worker and the sandbox worked). */
  async function stop(running: Running): Promise<void> {
    running.proc.kill('SIGTERM')
    expect(await running.exited).toBe(0)
    const errors = running.lines.filter((l) => !l.startsWith('{') || ['error', 'fatal'].includes(String((JSON.parse(l) as { level?: unknown }).level)))
    expect(errors).toEqual([])
    expect(running.lines.at(-1)).toContain('shutdown complete')
  }

  const call = async (method: string, path: string, body?: unknown, auth = token) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    let parsed: any = text
    try {
      parsed = JSON.parse(text)
    } catch {}
    return { status: res.status, body: parsed }
  }

  const runtimeLine = (lines: string[]) =>
    lines.filter((l) => l.includes('"runtime ready"')).map((l) => JSON.parse(l) as { unpacked?: boolean; dir?: string; ms?: number })[0]

  beforeAll(async () => {
    if (binary === null) return
    copyFileSync(binary, exe)
    mkdirSync(emptyPath)
    for (const tool of ['node', 'bun']) expect(Bun.which(tool, { PATH: emptyPath })).toBeNull()
    up = await startUpstream({ models: ['mock-chat'] })
    env = {
      PATH: emptyPath,
      HOME: dir,
      DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'info',
      ADMIN_PASSWORD,
      OPENAI_COMPAT_URL: up.url,
      ...(await storeEnv(schema)),
    }
  }, 60_000)

  afterAll(async () => {
    await killLeftovers()
    await up?.stop()
    if (process.env.DATABASE_URL) {
      const admin = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} })
      await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await admin.end()
    }
    rmSync(dir, { recursive: true, force: true })
  })

  test('the command line: --version, --help from the schema, a bad value exits 2 naming it, an unknown command', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    expect(await run(['--version'])).toMatchObject({ code: 0, stdout: `${pkg.version}\n` })
    const help = await run(['--help'])
    expect(help.code).toBe(0)
    for (const name of Object.keys(ConfigSchema.properties)) expect(help.stdout).toContain(`\n  ${name}  (`)
    expect(help.stdout).toContain('DATABASE_URL  (unset: embedded PGlite in DATA_DIR)')
    expect(help.stdout).toContain('PLUGIN_ORIGIN')
    expect(help.stdout).toContain('MAX_JSON_BODY_MB  (default 8)')
    const bad = await run([], { PORT: 'abc' })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('PORT: expected an integer, got "abc"')
    expect(bad.stderr).not.toContain('    at ')
    // Nothing was written for a configuration that does not start.
    expect(existsSync(dataDir)).toBe(false)
    const unknown = await run(['serve', '--port=1'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('takes no arguments')
  })

  test('first start: unpacks its runtime into DATA_DIR and is ready', async () => {
    server = await start()
    const runtime = runtimeLine(server.lines)
    expect(runtime).toMatchObject({ unpacked: true })
    expect(String(runtime?.dir)).toStartWith(join(dataDir, 'runtime'))
    console.log(
      `binary.test: ${(statSync(exe).size / 1e6).toFixed(1)} MB; first start (unpacking in ${runtime?.ms} ms): ready ${Math.round(server.readyMs)} ms after exec`,
    )
    expect(await (await fetch(`${server.url}/health/ready`)).json()).toMatchObject({ status: 'ready' })
    // The container health check (Dockerfile) asks the same question.
    expect(await run(['healthcheck'], { PORT: new URL(server.url).port })).toMatchObject({ code: 0 })
  }, START_TIMEOUT_MS)

  test('the dashboard at / references its built assets, which load; /widget.js is the built widget', async () => {
    const page = await fetch(`${server.url}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toContain('text/html')
    const html = await page.text()
    const script = /<script type="module"[^>]* src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1]
    expect(script).toBeString()
    const asset = await fetch(`${server.url}${script}`)
    expect(asset.status).toBe(200)
    expect(asset.headers.get('content-type')).toContain('javascript')
    expect((await asset.text()).length).toBeGreaterThan(1000)

    const widget = await fetch(`${server.url}/widget.js`)
    expect(widget.status).toBe(200)
    expect(widget.headers.get('content-type')).toContain('text/javascript')
    expect(await widget.text()).toContain('data-chatbot')
  })

  test('sign in with ADMIN_PASSWORD, create an API key, chat through the upstream (also a prompt for the token worker)', async () => {
    const login = await call('POST', '/api-internal/v1/auth/login', { email: 'admin@enclava.local', password: ADMIN_PASSWORD }, '')
    expect(login.status).toBe(200)
    token = login.body.access_token
    const created = await call('POST', '/api-internal/v1/api-keys', { name: 'binary', scopes: ['llm', 'rag:read', 'rag:write', 'chatbots', 'plugins'] })
    expect(created.status).toBe(201)
    key = created.body.key
    expect((await call('GET', '/api/v1/me', undefined, key)).body).toMatchObject({ name: 'binary' })

    const chat = await call('POST', '/api/v1/chat/completions', { model: 'mock-chat', messages: [{ role: 'user', content: 'hello from the binary' }] }, key)
    expect(chat.status).toBe(200)
    expect(chat.body.choices[0].message.content).toBe('echo: hello from the binary')
    // Over 16 384 characters, the prompt's tokens are counted on the token worker.
    const long = Array.from({ length: 4000 }, (_, i) => `w${i}`).join(' ')
    const big = await call('POST', '/api/v1/chat/completions', { model: 'mock-chat', messages: [{ role: 'user', content: long }], max_tokens: 10 }, key)
    expect(big.status).toBe(200)
  })

  test('a PDF is uploaded, indexed and found; a chatbot answers from it', async () => {
    const collection = await call('POST', '/api-internal/v1/rag/collections', { name: 'binary docs' })
    expect(collection.status).toBe(201)
    const form = new FormData()
    const pdf = await pdfLibPdf(['The lighthouse keeper logs every passing ship at dawn.'], 'Lighthouse')
    form.append('files', new File([pdf], 'lighthouse.pdf', { type: 'application/pdf' }))
    const uploaded = await fetch(`${server.url}/api/v1/rag/collections/${collection.body.id}/documents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: form,
    })
    expect(uploaded.status).toBe(202)
    const deadline = Date.now() + 30_000
    let docs: any[] = []
    while (Date.now() < deadline) {
      docs = (await call('GET', `/api-internal/v1/rag/collections/${collection.body.id}/documents`)).body.data
      if (docs.every((d) => d.status === 'indexed' || d.status === 'failed')) break
      await Bun.sleep(50)
    }
    expect(docs.map((d) => [d.filename, d.status, d.error ?? null])).toEqual([['lighthouse.pdf', 'indexed', null]])
    const found = await call('POST', `/api/v1/rag/collections/${collection.body.id}/search`, { query: 'who logs passing ships', mode: 'lexical', top_k: 3 }, key)
    expect(found.status).toBe(200)
    expect(found.body.results[0]).toMatchObject({ document_name: 'lighthouse.pdf' })
    expect(found.body.results[0].snippet).toContain('lighthouse keeper')

    const bot = await call('POST', '/api-internal/v1/chatbots', { name: 'keeper', model: 'mock-chat', rag_collections: [collection.body.id] })
    expect(bot).toMatchObject({ status: 201 })
    const answer = await call('POST', `/api/v1/chatbot/${bot.body.id}/chat`, { message: 'When does the lighthouse keeper log ships?' }, key)
    expect(answer.status).toBe(200)
    expect(answer.body.response).toContain('When does the lighthouse keeper log ships?')
    expect(answer.body.sources.map((s: any) => s.document_name)).toContain('lighthouse.pdf')
  })

  test('plugins: hello enabled, configured and called in the unpacked sandbox; one installed from a zip', async () => {
    const A = '/api-internal/v1/plugin-admin/plugins'
    expect((await call('POST', `${A}/hello/enable`, {})).status).toBe(200)
    const hello = await call('GET', '/api/v1/plugins/hello/hello?name=binary', undefined, '')
    expect(hello).toMatchObject({ status: 200, body: { message: 'Hello, binary!' } })
    // Settings are checked on the settings worker.
    expect((await call('PUT', `${A}/hello/config`, { values: { greeting: 'Ahoy' } })).status).toBe(200)
    const me = await call('GET', '/api/v1/plugins/hello/me', undefined, key)
    expect(me.status).toBe(200)
    expect(me.body.message).toStartWith('Ahoy, user ')

    // Archives are opened on the archive worker.
    const manifest = { name: 'greeter', version: '1.0.0', entry: 'index.ts', routes: [{ method: 'GET', path: '/hi', auth: 'public' }] }
    const code = `import { BasePlugin } from 'enclava:plugin'
export default class Greeter extends BasePlugin {
  name = 'greeter'
  version = '1.0.0'
  routes = { 'GET /hi': () => ({ hi: 'from a zip' }) }
}
`
    const form = new FormData()
    form.append('archive', new File([zip({ 'plugin.json': JSON.stringify(manifest), 'index.ts': code })], 'greeter.zip'))
    const installed = await fetch(`${server.url}${A}/install`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    expect(installed.status).toBe(201)
    expect((await call('POST', `${A}/greeter/enable`, {})).status).toBe(200)
    expect(await call('GET', '/api/v1/plugins/greeter/hi', undefined, '')).toMatchObject({ status: 200, body: { hi: 'from a zip' } })
  }, 60_000)

  test('a second start on the same data: nothing to unpack, the data and the enabled plugin are there', async () => {
    await stop(server)
    server = await start()
    expect(runtimeLine(server.lines)).toMatchObject({ unpacked: false })
    console.log(`binary.test: second start (runtime intact, checked in ${runtimeLine(server.lines)?.ms} ms): ready ${Math.round(server.readyMs)} ms after exec`)
    expect((await call('POST', '/api-internal/v1/auth/login', { email: 'admin@enclava.local', password: ADMIN_PASSWORD }, '')).status).toBe(200)
    expect(await call('GET', '/api/v1/plugins/hello/hello?name=again', undefined, '')).toMatchObject({ status: 200, body: { message: 'Ahoy, again!' } })
  }, START_TIMEOUT_MS)

  test('a damaged runtime is replaced; migrate applies nothing more and exits 0', async () => {
    await stop(server)
    const [tree] = readdirSync(join(dataDir, 'runtime')).filter((n) => !n.startsWith('.'))
    const main = join(dataDir, 'runtime', tree ?? '', 'sandbox', 'main.ts')
    const size = statSync(main).size
    truncateSync(main, 10)
    const migrated = await run(['migrate'])
    expect(migrated).toMatchObject({ code: 0, stdout: 'database is up to date\n' })
    expect(statSync(main).size).toBe(size)
    // Nothing answers any more.
    expect(await run(['healthcheck'], { PORT: new URL(server.url).port })).toMatchObject({ code: 1 })
  }, START_TIMEOUT_MS)
})
