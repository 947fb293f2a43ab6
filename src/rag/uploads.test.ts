/** The upload limits the dashboard reads to refuse a file before sending it, and how a refused upload answers. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

let env: TestEnv
beforeAll(async () => {
  env = await createTestEnv({ UPLOAD_MAX_FILE_MB: '2' })
})
afterAll(async () => {
  await env.close()
})

test('GET /rag/limits gives the accepted extensions, the configured file size limit and the batch size', async () => {
  const user = await env.user('user')
  const res = await env.call('GET', '/api-internal/v1/rag/limits', { token: user.token })
  expect(res.status).toBe(200)
  expect(res.body.max_file_bytes).toBe(2 * 1024 * 1024)
  expect(res.body.max_files_per_upload).toBe(100)
  expect(res.body.extensions).toEqual(expect.arrayContaining(['txt', 'md', 'pdf', 'docx', 'csv', 'jsonl']))
  expect(res.body.extensions).not.toContain('exe')
})

test('the limits need a signed-in user', async () => {
  expect((await env.call('GET', '/api-internal/v1/rag/limits')).status).toBe(401)
})

test('an upload refused whole carries the error envelope as well as the refusals', async () => {
  const user = await env.user('user')
  const col = (await env.call('POST', '/api-internal/v1/rag/collections', { token: user.token, body: { name: 'refusals' } })).body
  const form = new FormData()
  form.append('files', new File(['MZ'], 'setup.exe'))
  const res = await env.app.handle(
    new Request(`http://localhost/api-internal/v1/rag/collections/${col.id}/documents`, { method: 'POST', headers: { authorization: `Bearer ${user.token}` }, body: form }),
  )
  const body = (await res.json()) as any
  expect(res.status).toBe(400)
  expect(body.accepted).toEqual([])
  expect(body.rejected).toEqual([expect.objectContaining({ filename: 'setup.exe', reason: 'unsupported_type' })])
  expect(body.error).toMatchObject({ code: 'invalid_request', param: 'files', type: 'invalid_request_error' })
  expect(body.error.message).toStartWith('setup.exe: this file type is not supported')
})
