import type postgres from 'postgres'
import type { SecretBox } from '../crypto/secretbox.ts'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import type { RagService } from '../rag/service.ts'

/** Columns that never leave the server, whatever the table: secrets, hashes, sealed bodies (opened separately). */
const WITHHELD = new Set(['password_hash', 'key_hash', 'wrapped_key', 'headers_encrypted', 'secret', 'token_hash'])
/** Rows read per query for the large sections (keyset pages). */
const PAGE_ROWS = 500
/** Originals larger than this are listed without their content (download them before deleting the account). */
const MAX_INLINE_FILE_BYTES = 50 * 1024 * 1024

type Row = Record<string, unknown>
const clean = (row: Row): Row => Object.fromEntries(Object.entries(row).filter(([k]) => !WITHHELD.has(k)))

/**
 * A user's data rights: an export of everything they own as one JSON document, and erasure of everything they own.
 *
 * The export is streamed, section by section, large tables read with a cursor: their profile, sessions, API keys
 * (without hashes), budgets, usage records and daily sums, collections with their documents (the originals, decrypted,
 * base64) and chunks' text, chatbots with their conversations, prompt templates, agents and their runs, MCP servers
 * (header names only), Responses-API conversations, responses and prompts (decrypted), notification channels (without
 * secrets), inbox and subscriptions, and the audit events they caused.
 *
 * Erasure: their collections through the documents service (files on disk and vectors in Qdrant too), their usage
 * records summed into anonymous daily totals (the platform's accounting keeps its totals, nobody's identity), their
 * conversations with other users' chatbots and the notifications about them; then their row, whose foreign keys
 * take the rest (keys, sessions, budgets, chatbots, agents, MCP servers, responses, prompts, channels). Audit events
 * they caused stay, as the platform's security record, until the audit retention period removes them.
 */
export class DataRights {
  constructor(readonly deps: { sql: Sql; box: SecretBox; rag: RagService; log: Logger }) {}

  export(userId: string): ReadableStream<Uint8Array> {
    const enc = new TextEncoder()
    const gen = this.#sections(userId)
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await gen.next()
          if (next.done) controller.close()
          else controller.enqueue(enc.encode(next.value))
        } catch (err) {
          controller.error(err)
        }
      },
      async cancel() {
        await gen.return(undefined)
      },
    })
  }

  async *#sections(userId: string): AsyncGenerator<string> {
    const sql = this.deps.sql
    const box = this.deps.box
    const [user] = await sql<Row[]>`SELECT * FROM users WHERE id = ${userId}`
    if (!user) throw new Error(`user ${userId} not found`)
    yield `{"format":"enclava-export/1","exported_at":${JSON.stringify(new Date().toISOString())},"user":${JSON.stringify(clean(user))}`

    /** The rows of `table` matching `where`, a page at a time by id (keyset pages: exact, and no cursor holds a connection). */
    const paged = async function* (table: string, where: postgres.PendingQuery<postgres.Row[]>): AsyncIterable<Row[]> {
      let after: string | null = null
      for (;;) {
        const page: Row[] = await sql<Row[]>`
          SELECT * FROM ${sql(table)} WHERE ${where} ${after === null ? sql`` : sql`AND id > ${after}`} ORDER BY id LIMIT ${PAGE_ROWS}`
        if (page.length > 0) yield page
        if (page.length < PAGE_ROWS) return
        after = String(page[page.length - 1]!.id)
      }
    }

    const section = async function* (name: string, rows: AsyncIterable<Row[]> | Promise<readonly Row[]>, map: (r: Row) => Row | Promise<Row> = clean) {
      yield `,${JSON.stringify(name)}:[`
      let first = true
      const emit = async function* (batch: readonly Row[]) {
        for (const r of batch) {
          yield `${first ? '' : ','}${JSON.stringify(await map(r))}`
          first = false
        }
      }
      if (Symbol.asyncIterator in rows) for await (const batch of rows as AsyncIterable<Row[]>) yield* emit(batch)
      else yield* emit(await (rows as Promise<readonly Row[]>))
      yield ']'
    }

    yield* section('sessions', sql<Row[]>`SELECT id, created_at, expires_at, revoked_at, revoke_reason, ip, user_agent FROM sessions WHERE user_id = ${userId} ORDER BY created_at`)
    yield* section('api_keys', sql<Row[]>`SELECT * FROM api_keys WHERE user_id = ${userId} ORDER BY created_at`)
    yield* section(
      'budgets',
      sql<Row[]>`SELECT * FROM budgets WHERE user_id = ${userId} OR api_key_id IN (SELECT id FROM api_keys WHERE user_id = ${userId}) ORDER BY created_at`,
    )
    yield* section('usage_records', paged('usage_records', sql`user_id = ${userId}`))
    yield* section('usage_daily_totals', sql<Row[]>`SELECT * FROM usage_rollups WHERE user_id = ${userId} ORDER BY day`)

    const files = this.deps.rag.files
    yield* section('collections', sql<Row[]>`SELECT * FROM rag_collections WHERE owner_id = ${userId} ORDER BY created_at`, async (c) => {
      const docs = await sql<Row[]>`SELECT * FROM rag_documents WHERE collection_id = ${c.id as string} ORDER BY created_at`
      const documents = []
      for (const d of docs) {
        let content_base64: string | null = null
        let content_note: string | null = null
        if (Number(d.size) > MAX_INLINE_FILE_BYTES) content_note = `larger than ${MAX_INLINE_FILE_BYTES / 1024 / 1024} MB: download it separately`
        else
          try {
            content_base64 = Buffer.from(await files.get(c.id as string, d.id as string, d.wrapped_key as string)).toString('base64')
          } catch (err) {
            content_note = `the stored original cannot be read: ${(err as Error).message}`
          }
        documents.push({ ...clean(d), content_base64, ...(content_note ? { content_note } : {}) })
      }
      return { ...clean(c), documents }
    })
    yield* section('chatbots', sql<Row[]>`SELECT * FROM chatbots WHERE owner_id = ${userId} ORDER BY created_at`)
    yield* section(
      'chatbot_conversations',
      paged('chatbot_conversations', sql`(user_id = ${userId} OR chatbot_id IN (SELECT id FROM chatbots WHERE owner_id = ${userId}))`),
      async (conv) => ({
        ...clean(conv),
        messages: (await sql<Row[]>`SELECT * FROM chatbot_messages WHERE conversation_id = ${conv.id as string} ORDER BY id`).map(clean),
      }),
    )
    yield* section('prompt_templates', sql<Row[]>`SELECT * FROM prompt_templates WHERE owner_id = ${userId} ORDER BY created_at`)
    yield* section('agents', sql<Row[]>`SELECT * FROM agents WHERE owner_id = ${userId} ORDER BY created_at`)
    yield* section('agent_runs', paged('agent_runs', sql`user_id = ${userId}`))
    yield* section('mcp_servers', sql<Row[]>`SELECT * FROM mcp_servers WHERE owner_id = ${userId} ORDER BY created_at`)

    const open = (sealed: string, context: string): unknown => {
      try {
        return JSON.parse(box.open(sealed, context))
      } catch {
        return { unreadable: 'sealed under another ENCRYPTION_KEY' }
      }
    }
    yield* section('conversations', sql<Row[]>`SELECT * FROM conversations WHERE user_id = ${userId} ORDER BY created_at`, async (c) => ({
      ...clean(c),
      items: (await sql<{ row_id: string; body: string }[]>`SELECT row_id, body FROM conversation_items WHERE conversation_id = ${c.id as string} ORDER BY seq`).map(
        (i) => open(i.body, `conversation-item:${i.row_id}`),
      ),
    }))
    yield* section('responses', paged('responses', sql`user_id = ${userId}`), async (r) => {
      let instructions: string | null = null
      if (typeof r.instructions === 'string')
        try {
          instructions = box.open(r.instructions, `response-instructions:${r.id as string}`)
        } catch {
          instructions = null
        }
      const items = await sql<{ position: number; kind: string; body: string }[]>`
        SELECT position, kind, body FROM response_items WHERE response_id = ${r.id as string} ORDER BY position`
      return { ...clean(r), instructions, items: items.map((i) => ({ kind: i.kind, ...(open(i.body, `response-item:${r.id as string}:${i.position}`) as object) })) }
    })
    yield* section('prompts', sql<Row[]>`SELECT * FROM prompts WHERE user_id = ${userId} ORDER BY created_at`, async (p) => ({
      ...clean(p),
      versions: (await sql<Row[]>`SELECT * FROM prompt_versions WHERE prompt_id = ${p.id as string} ORDER BY version`).map(clean),
    }))
    yield* section('notification_channels', sql<Row[]>`SELECT * FROM notification_channels WHERE owner_id = ${userId} ORDER BY created_at`)
    yield* section(
      'notifications',
      sql<Row[]>`
        SELECT i.id, i.created_at, i.read_at, e.type, e.title, e.payload FROM notification_inbox i JOIN notification_events e ON e.id = i.event_id
        WHERE i.user_id = ${userId} ORDER BY i.created_at`,
    )
    yield* section('notification_subscriptions', sql<Row[]>`SELECT events, updated_at FROM notification_subscriptions WHERE user_id = ${userId}`)
    yield* section('audit_events', paged('audit_log', sql`actor_user_id = ${userId}`))
    yield '}\n'
  }

  /** Deletes what the user's row does not take along by itself; the caller deletes the row right after. */
  async erase(userId: string): Promise<{ collections: number; usage_records: number; conversations: number }> {
    const sql = this.deps.sql
    const collections = await sql<{ id: string }[]>`SELECT id FROM rag_collections WHERE owner_id = ${userId}`
    for (const c of collections) await this.deps.rag.deleteCollection({ userId, isAdmin: true }, c.id)
    const counts = await sql.begin(async (tx) => {
      const [usage] = await tx<{ n: number }[]>`
        WITH gone AS (DELETE FROM usage_records WHERE user_id = ${userId} RETURNING *), summed AS (
          INSERT INTO usage_rollups (day, user_id, api_key_id, model, provider, source, endpoint, is_tee, requests, errors,
            prompt_tokens, completion_tokens, cost_micros, latency_ms_sum, latency_count)
          SELECT (created_at AT TIME ZONE 'UTC')::date, NULL, NULL, model, provider, source, endpoint, is_tee,
            count(*), count(*) FILTER (WHERE status >= 400), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),
            coalesce(sum(cost_micros), 0), coalesce(sum(latency_ms), 0), count(latency_ms)
          FROM gone GROUP BY 1, 4, 5, 6, 7, 8 RETURNING requests
        )
        SELECT count(*)::int AS n FROM gone`
      await tx`UPDATE usage_rollups SET user_id = NULL, api_key_id = NULL WHERE user_id = ${userId}`
      const conversations = await tx`DELETE FROM chatbot_conversations WHERE user_id = ${userId}`
      await tx`DELETE FROM notification_events WHERE user_id = ${userId}`
      return { usage_records: usage?.n ?? 0, conversations: conversations.count }
    })
    const result = { collections: collections.length, ...counts }
    this.deps.log.info({ user: userId, ...result }, "erased a user's data")
    return result
  }
}
