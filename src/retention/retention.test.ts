/**
 * Retention and data rights: the scheduled deletion removes what is past each setting's period (and keeps the rest),
 * sums usage records per day before deleting them (so totals stay), runs on one replica at a time; a user's export
 * holds everything they own (secrets withheld, sealed data opened, originals included), and deleting an account
 * (by its owner or an administrator) removes everything the user owns, files on disk included.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

let A: TestEnv
let B: TestEnv
let admin: string
beforeAll(async () => {
  A = await createTestEnv()
  B = await createTestEnv({}, A)
  admin = await A.adminToken()
})
afterAll(async () => {
  await B?.close()
  await A?.close()
})

const DAY = 86_400_000
const ago = (days: number) => new Date(Date.now() - days * DAY)

async function usage(userId: string, apiKeyId: string | null, at: Date, cost: number) {
  await A.db.sql`
    INSERT INTO usage_records (id, created_at, source, api_key_id, user_id, model, provider, endpoint, prompt_tokens, completion_tokens, cost_micros, latency_ms, status, is_tee)
    VALUES (${crypto.randomUUID()}, ${at}, 'api', ${apiKeyId}, ${userId}, 'tee-chat', 'privatemode', '/chat/completions', 10, 5, ${cost}, 100, 200, true)`
}

describe('scheduled deletion', () => {
  test('deletes what is past each period, keeps the rest, and keeps usage totals', async () => {
    const u = await A.user('user')
    const key = await A.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'k' } })
    const sql = A.db.sql
    await sql`INSERT INTO audit_log (created_at, action, outcome, details) VALUES (${ago(100)}, 'test.old', 'success', '{}'), (${ago(1)}, 'test.recent', 'success', '{}')`
    for (const [days, cost] of [[100, 1000], [100, 2000], [99, 500], [2, 700]] as const) await usage(u.id, key.body.id, ago(days), cost)
    await sql`INSERT INTO plugin_logs (plugin, level, message, created_at) VALUES ('p', 'info', 'old', ${ago(30)}), ('p', 'info', 'new', ${ago(1)})`
    const bot = await A.call('POST', '/api-internal/v1/chatbots', { token: u.token, body: { name: 'b', model: 'x' } })
    const [oldConv] = await sql<{ id: string }[]>`
      INSERT INTO chatbot_conversations (chatbot_id, user_id, source, created_at, updated_at) VALUES (${bot.body.id}, ${u.id}, 'internal', ${ago(90)}, ${ago(90)}) RETURNING id`
    await sql`INSERT INTO chatbot_messages (conversation_id, role, content) VALUES (${oldConv!.id}, 'user', 'hello')`
    await sql`INSERT INTO chatbot_conversations (chatbot_id, user_id, source) VALUES (${bot.body.id}, ${u.id}, 'internal')`
    await sql`INSERT INTO responses (id, user_id, model, status, params, created_at) VALUES ('resp_old', ${u.id}, 'm', 'completed', '{}', ${ago(60)}), ('resp_new', ${u.id}, 'm', 'completed', '{}', now())`
    await sql`INSERT INTO conversations (id, user_id, created_at, updated_at) VALUES ('conv_old', ${u.id}, ${ago(60)}, ${ago(60)}), ('conv_new', ${u.id}, now(), now())`
    const [before] = await sql<{ cost: string; n: number }[]>`SELECT sum(cost_micros) AS cost, count(*)::int AS n FROM usage_records WHERE user_id = ${u.id}`
    // Jobs: finished ones over a week old go; recent ones, and queued or running ones however old, stay.
    await sql`
      INSERT INTO jobs (kind, payload, status, updated_at) VALUES
        ('retention.test', '{"n":1}', 'done', ${ago(8)}), ('retention.test', '{"n":2}', 'failed', ${ago(30)}),
        ('retention.test', '{"n":3}', 'done', ${ago(1)}), ('retention.test', '{"n":4}', 'queued', ${ago(30)}),
        ('retention.test', '{"n":5}', 'processing', ${ago(30)})`

    const set = await A.call('PATCH', '/api-internal/v1/settings', {
      token: admin,
      body: { retention_audit_days: 30, retention_usage_days: 31, retention_plugin_logs_days: 7, retention_conversations_days: 30, retention_responses_days: 30 },
    })
    expect(set.status).toBe(200)
    const run = await B.call('POST', '/api-internal/v1/retention/run', { token: admin })
    expect(run.status).toBe(200)
    expect(run.body.last_result.deleted).toMatchObject({ usage_records: 3, plugin_logs: 1, chatbot_conversations: 1, responses: 1, conversations: 1, finished_jobs: 2 })
    expect((await sql`SELECT payload->>'n' AS n FROM jobs WHERE kind = 'retention.test' ORDER BY 1`).map((r) => r.n)).toEqual(['3', '4', '5'])
    // The embedded database (no autovacuum) was vacuumed and analysed: its tables have statistics now.
    if (!A.s.config.DATABASE_URL) {
      const [jobs] = await sql<{ reltuples: number }[]>`SELECT reltuples FROM pg_class WHERE oid = 'jobs'::regclass`
      expect(jobs!.reltuples).toBeGreaterThanOrEqual(3)
      const [analysed] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
        WHERE c.relkind = 'r' AND ns.nspname = current_schema() AND c.reltuples < 0`
      expect(analysed!.n).toBe(0)
    }
    expect(run.body.last_result.deleted.audit_events).toBeGreaterThanOrEqual(1)
    expect(run.body.periods).toEqual({ audit_days: 30, usage_days: 31, plugin_logs_days: 7, conversations_days: 30, responses_days: 30 })

    expect((await sql`SELECT 1 FROM audit_log WHERE action = 'test.old'`).count).toBe(0)
    expect((await sql`SELECT 1 FROM audit_log WHERE action = 'test.recent'`).count).toBe(1)
    expect((await sql`SELECT message FROM plugin_logs WHERE plugin = 'p'`).map((r) => r.message)).toEqual(['new'])
    expect((await sql`SELECT 1 FROM chatbot_messages WHERE conversation_id = ${oldConv!.id}`).count).toBe(0)
    expect((await sql`SELECT id FROM responses WHERE user_id = ${u.id}`).map((r) => r.id)).toEqual(['resp_new'])
    expect((await sql`SELECT id FROM conversations WHERE user_id = ${u.id}`).map((r) => r.id)).toEqual(['conv_new'])
    // Usage: the old records are summed per day, so totals are kept; the recent one stays a record.
    const [left] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM usage_records WHERE user_id = ${u.id}`
    expect(left!.n).toBe(1)
    const [rolled] = await sql<{ cost: string; requests: string }[]>`SELECT sum(cost_micros) AS cost, sum(requests) AS requests FROM usage_rollups WHERE user_id = ${u.id}`
    expect(Number(rolled!.cost) + 700).toBe(Number(before!.cost))
    expect(Number(rolled!.requests) + 1).toBe(before!.n)
    // The key's daily usage report still shows the deleted days, from the sums.
    const daily = await A.call('GET', `/api-internal/v1/api-keys/${key.body.id}/usage/daily?days=366`, { token: u.token })
    expect(daily.status).toBe(200)
    const total = daily.body.data.reduce((s: number, d: { requests: number }) => s + d.requests, 0)
    expect(total).toBe(4)
    // Recorded and shown.
    const status = await A.call('GET', '/api-internal/v1/retention', { token: admin })
    expect(status.body).toMatchObject({ running: false, last_result: { deleted: { usage_records: 3 } } })
    expect((await A.call('GET', '/api-internal/v1/audit?action=retention.run', { token: admin })).body.total).toBe(1)
    expect((await A.call('GET', '/api-internal/v1/retention', { token: (await A.user('user')).token })).status).toBe(403)
  })

  test('one replica at a time; a scheduled run is skipped while the last one is recent', async () => {
    const results = await Promise.allSettled([A.s.retention.run({ force: true }), B.s.retention.run({ force: true })])
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
    expect(refused.reason.code).toBe('conflict')
    expect(await A.s.retention.run({ force: false })).toBeNull()
  })
})

describe('data rights', () => {
  async function owner() {
    const u = await A.user('user')
    const key = await A.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'mine', scopes: ['llm', 'rag:read'] } })
    const collection = await A.collection(u.token, { 'handbook.txt': 'The office opens at nine.' })
    await usage(u.id, key.body.id, ago(1), 1234)
    const conv = await A.call('POST', '/api/v1/conversations', { apiKey: key.body.key, body: { items: [{ type: 'message', role: 'user', content: 'a sealed line' }] } })
    expect(conv.status).toBe(200)
    // A conversation with someone else's chatbot.
    const other = await A.user('user')
    const bot = await A.call('POST', '/api-internal/v1/chatbots', { token: other.token, body: { name: 'theirs', model: 'x' } })
    await A.db.sql`INSERT INTO chatbot_conversations (chatbot_id, user_id, source) VALUES (${bot.body.id}, ${u.id}, 'internal')`
    return { u, key: key.body, collection, other, bot: bot.body }
  }

  test('an export holds everything the user owns, secrets withheld and sealed data opened', async () => {
    const { u, key, collection } = await owner()
    const res = await A.call('GET', '/api-internal/v1/account/export', { token: u.token })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-disposition')).toContain('attachment; filename="enclava-export-')
    const data = res.body
    expect(data.format).toBe('enclava-export/1')
    expect(data.user).toMatchObject({ id: u.id, email: u.email })
    expect(data.user.password_hash).toBeUndefined()
    expect(data.api_keys.map((k: { id: string }) => k.id)).toEqual([key.id])
    expect(data.api_keys[0].key_hash).toBeUndefined()
    expect(data.usage_records).toHaveLength(1)
    expect(data.collections[0].id).toBe(collection)
    expect(Buffer.from(data.collections[0].documents[0].content_base64, 'base64').toString()).toBe('The office opens at nine.')
    expect(data.collections[0].documents[0].wrapped_key).toBeUndefined()
    expect(JSON.stringify(data.conversations[0].items)).toContain('a sealed line')
    expect(data.chatbot_conversations).toHaveLength(1)
    expect(data.audit_events.some((e: { action: string }) => e.action === 'auth.login')).toBe(true)
    for (const section of ['sessions', 'budgets', 'chatbots', 'agents', 'agent_runs', 'mcp_servers', 'responses', 'prompts', 'notification_channels', 'notifications'])
      expect(Array.isArray(data[section])).toBe(true)
    expect((await A.call('GET', '/api-internal/v1/audit?action=user.data_export', { token: admin })).body.data[0]).toMatchObject({ resource_id: u.id })
    // An administrator exports users they manage; nobody else does.
    expect((await A.call('GET', `/api-internal/v1/users/${u.id}/export`, { token: admin })).status).toBe(200)
    const plainAdmin = await A.user('admin')
    const superAdmin = (await A.call('GET', '/api-internal/v1/auth/me', { token: admin })).body.id
    expect((await A.call('GET', `/api-internal/v1/users/${superAdmin}/export`, { token: plainAdmin.token })).status).toBe(403)
    expect((await A.call('GET', `/api-internal/v1/users/${u.id}/export`, { token: (await A.user('user')).token })).status).toBe(403)
  })

  test('deleting one’s account removes everything one owns; the checks name the field', async () => {
    const { u, collection, bot } = await owner()
    // The collection's originals: small ones are rows of rag_originals (file-store.ts), larger ones files.
    const filesDir = A.s.config.FILE_STORAGE_DIR!
    const [doc] = await A.db.sql<{ id: string }[]>`SELECT id FROM rag_documents WHERE collection_id = ${collection}`
    const hasFiles = async () =>
      (existsSync(filesDir) && readdirSync(filesDir, { recursive: true }).some((f) => String(f).includes(collection))) ||
      (await A.db.sql`SELECT 1 FROM rag_originals WHERE document_id = ${doc!.id}`).count > 0
    expect(await hasFiles()).toBe(true)
    const wrongConfirm = await A.call('POST', '/api-internal/v1/account/delete', { token: u.token, body: { password: u.password, confirm: 'yes' } })
    expect(wrongConfirm.body.error).toMatchObject({ code: 'validation_failed', param: 'confirm' })
    const wrongPassword = await A.call('POST', '/api-internal/v1/account/delete', { token: u.token, body: { password: 'not-my-password', confirm: 'delete my account' } })
    expect(wrongPassword.status).toBe(401)
    expect(wrongPassword.body.error.param).toBe('password')
    const [before] = await A.db.sql<{ cost: string }[]>`SELECT coalesce(sum(cost_micros), 0) AS cost FROM usage_rollups WHERE user_id IS NULL`
    const res = await A.call('POST', '/api-internal/v1/account/delete', { token: u.token, body: { password: u.password, confirm: 'Delete my account' } })
    expect(res.status).toBe(204)
    expect((await A.call('POST', '/api-internal/v1/auth/login', { body: { email: u.email, password: u.password } })).status).toBe(401)
    expect((await A.call('GET', '/api-internal/v1/auth/me', { token: u.token })).status).toBe(401)
    const sql = A.db.sql
    for (const [table, column] of [['users', 'id'], ['api_keys', 'user_id'], ['rag_collections', 'owner_id'], ['usage_records', 'user_id'], ['chatbot_conversations', 'user_id'], ['conversations', 'user_id'], ['usage_rollups', 'user_id']] as const)
      expect({ table, rows: (await sql`SELECT 1 FROM ${sql(table)} WHERE ${sql(column)} = ${u.id}`).count }).toEqual({ table, rows: 0 })
    expect(await hasFiles()).toBe(false)
    // The usage is summed anonymously: the platform's totals stay.
    const [after] = await A.db.sql<{ cost: string }[]>`SELECT coalesce(sum(cost_micros), 0) AS cost FROM usage_rollups WHERE user_id IS NULL`
    expect(Number(after!.cost) - Number(before!.cost)).toBe(1234)
    // Other users' things stay.
    expect((await sql`SELECT 1 FROM chatbots WHERE id = ${bot.id}`).count).toBe(1)
    expect((await A.call('GET', '/api-internal/v1/audit?action=account.delete', { token: admin })).body.data[0]).toMatchObject({ resource_id: u.id })
  })

  test('an administrator deleting a user erases the same; the last super_admin cannot delete themself', async () => {
    const { u, collection } = await owner()
    const [doc] = await A.db.sql<{ id: string }[]>`SELECT id FROM rag_documents WHERE collection_id = ${collection}`
    expect((await A.db.sql`SELECT 1 FROM rag_originals WHERE document_id = ${doc!.id}`).count).toBe(1)
    expect((await A.call('DELETE', `/api-internal/v1/users/${u.id}`, { token: admin })).status).toBe(204)
    expect((await A.db.sql`SELECT 1 FROM rag_originals WHERE document_id = ${doc!.id}`).count).toBe(0)
    expect((await A.db.sql`SELECT 1 FROM usage_records WHERE user_id = ${u.id}`).count).toBe(0)
    expect((await A.db.sql`SELECT 1 FROM chatbot_conversations WHERE user_id = ${u.id}`).count).toBe(0)
    expect(existsSync(join(A.s.config.FILE_STORAGE_DIR!, collection))).toBe(false)
    const last = await A.call('POST', '/api-internal/v1/account/delete', { token: admin, body: { password: 'admin-password-for-tests', confirm: 'delete my account' } })
    expect(last.status).toBe(409)
  })
})
