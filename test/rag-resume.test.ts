/**
 * A server killed (SIGKILL) in the middle of indexing a document: the next server process on the same data takes
 * the job up again once its lease runs out, and the document ends indexed exactly once (no duplicate chunks).
 */
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { startUpstream } from './fixtures/upstream.ts'
import { schemaName } from './harness.ts'
import { killLeftovers, startServer, storeEnv } from './server-process.ts'

const schema = schemaName('resume')
const dataDir = mkdtempSync(join(tmpdir(), 'enclava-resume-'))
// Every embeddings call takes a while, so indexing is slow enough to be interrupted half-way.
const up = await startUpstream({ models: ['slow-embed'], delayMs: 150 })

afterAll(async () => {
  await killLeftovers()
  await up.stop()
  rmSync(dataDir, { recursive: true, force: true })
  if (process.env.DATABASE_URL) {
    const admin = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} })
    await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await admin.end()
  }
})

test('a job interrupted by a crash resumes on restart and indexes the document once', async () => {
  const env = {
    DATA_DIR: dataDir,
    ADMIN_EMAIL: 'admin@resume.local',
    ADMIN_PASSWORD: 'resume-admin-password',
    OPENAI_COMPAT_URL: up.url,
    JOB_LEASE_SECONDS: '2',
    ...(await storeEnv(schema)),
  }
  const first = await startServer(env)
  const login = await fetch(`${first.url}/api-internal/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD }),
  })
  const { access_token } = (await login.json()) as { access_token: string }
  const auth = { authorization: `Bearer ${access_token}` }
  const col = (await (
    await fetch(`${first.url}/api-internal/v1/rag/collections`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'resume', embedding_model: 'slow-embed', chunk_tokens: 100, chunk_overlap: 10 }),
    })
  ).json()) as { id: string }

  // ~1000 paragraphs -> several write batches, each waiting on embeddings.
  const text = Array.from({ length: 1000 }, (_, i) => `Paragraph ${i} talks about topic number ${i} in some detail here.`).join('\n\n')
  const form = new FormData()
  form.append('files', new File([text], 'big.txt'))
  const uploaded = await fetch(`${first.url}/api-internal/v1/rag/collections/${col.id}/documents`, { method: 'POST', headers: auth, body: form })
  expect(uploaded.status).toBe(202)
  const docId = ((await uploaded.json()) as { accepted: { id: string }[] }).accepted[0]!.id

  const doc = async (url: string) =>
    (await (await fetch(`${url}/api-internal/v1/rag/documents/${docId}`, { headers: auth })).json()) as {
      status: string
      progress: number
      chunk_count: number
    }
  // Kill it once some batches are written but not all.
  for (let d = await doc(first.url); !(d.status === 'processing' && d.progress > 0.2); d = await doc(first.url)) {
    expect(d.status).not.toBe('indexed')
    await Bun.sleep(20)
  }
  first.proc.kill('SIGKILL')
  await first.exited

  const second = await startServer(env)
  let final = await doc(second.url)
  const end = Date.now() + 60_000
  while (final.status !== 'indexed' && Date.now() < end) {
    expect(final.status).not.toBe('failed')
    await Bun.sleep(100)
    final = await doc(second.url)
  }
  expect(final.status).toBe('indexed')
  expect(final.chunk_count).toBeGreaterThan(10)
  const chunks = (await (await fetch(`${second.url}/api-internal/v1/rag/documents/${docId}/chunks?limit=1`, { headers: auth })).json()) as {
    total: number
  }
  expect(chunks.total).toBe(final.chunk_count)
  const collection = (await (await fetch(`${second.url}/api-internal/v1/rag/collections/${col.id}`, { headers: auth })).json()) as {
    chunk_count: number
  }
  expect(collection.chunk_count).toBe(final.chunk_count)
  const search = await fetch(`${second.url}/api-internal/v1/rag/collections/${col.id}/search`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'topic number 977', mode: 'lexical', top_k: 1 }),
  })
  expect(((await search.json()) as { results: { text: string }[] }).results[0]!.text).toContain('Paragraph 977 ')
})
