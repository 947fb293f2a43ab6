import type { SecretBox } from '../crypto/secretbox.ts'
import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import { newId, type StoredItem } from './items.ts'
import type { ListInput } from './model.ts'

/** A response's row: everything of the response object but its output (items) and its instructions' plaintext. */
export interface ResponseRecord {
  id: string
  user_id: string
  api_key_id: string | null
  model: string
  status: 'completed' | 'incomplete' | 'failed' | 'cancelled'
  previous_response_id: string | null
  conversation_id: string | null
  params: Record<string, unknown>
  instructions: string | null
  usage: Record<string, unknown> | null
  error: { code: string; message: string } | null
  incomplete_details: { reason: string } | null
  metadata: Record<string, string>
  created_at: Date
  completed_at: Date | null
}

export interface ConversationRow {
  id: string
  user_id: string
  metadata: Record<string, string>
  created_at: Date
}

/** A page of items as OpenAI lists them. */
export interface ItemPage {
  object: 'list'
  data: StoredItem['item'][]
  first_id: string | null
  last_id: string | null
  has_more: boolean
}

/** How far back a previous_response_id chain is followed; longer chains lose their oldest turns. */
const MAX_CHAIN = 1000
/** The most items a history (a chain or a conversation) brings into a request. */
const MAX_HISTORY_ITEMS = 20_000

const page = (items: StoredItem['item'][], limit: number): ItemPage => {
  const data = items.slice(0, limit)
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: items.length > limit }
}

/**
 * Stored responses, their items, conversations and their items: owner-scoped (another user's id is a 404, never a
 * 403, so ids cannot be probed), item bodies sealed with their row as context.
 */
export class ResponseStore {
  constructor(
    readonly sql: Sql,
    readonly box: SecretBox,
  ) {}

  #seal = (stored: StoredItem, context: string) => this.box.seal(JSON.stringify(stored), context)
  #open = (body: string, context: string) => JSON.parse(this.box.open(body, context)) as StoredItem
  #responseItem = (r: { response_id: string; position: number; body: string }) => this.#open(r.body, `response-item:${r.response_id}:${r.position}`)
  #conversationItem = (r: { row_id: string; body: string }) => this.#open(r.body, `conversation-item:${r.row_id}`)

  sealInstructions = (id: string, text: string | null) => (text === null ? null : this.box.seal(text, `response-instructions:${id}`))
  openInstructions = (row: ResponseRecord) => (row.instructions === null ? null : this.box.open(row.instructions, `response-instructions:${row.id}`))

  /** A response, its input and output items, and (with a conversation) their append to it: one transaction. */
  async save(record: ResponseRecord, input: StoredItem[], output: StoredItem[]): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`
        INSERT INTO responses (id, user_id, api_key_id, model, status, previous_response_id, conversation_id, params, instructions, usage, error,
          incomplete_details, metadata, created_at, completed_at)
        VALUES (${record.id}, ${record.user_id}, ${record.api_key_id}, ${record.model}, ${record.status}, ${record.previous_response_id},
          ${record.conversation_id}, ${tx.json(record.params as never)}, ${record.instructions}, ${record.usage === null ? null : tx.json(record.usage as never)},
          ${record.error === null ? null : tx.json(record.error as never)}, ${record.incomplete_details === null ? null : tx.json(record.incomplete_details as never)},
          ${tx.json(record.metadata as never)}, ${record.created_at}, ${record.completed_at})`
      const rows = [...input.map((s) => ['input', s] as const), ...output.map((s) => ['output', s] as const)].map(([kind, s], position) => ({
        response_id: record.id,
        position,
        kind,
        id: s.item.id,
        body: this.#seal(s, `response-item:${record.id}:${position}`),
      }))
      for (let i = 0; i < rows.length; i += 500) await tx`INSERT INTO response_items ${tx(rows.slice(i, i + 500))}`
      if (record.conversation_id) {
        const locked = await tx`SELECT 1 FROM conversations WHERE id = ${record.conversation_id} AND user_id = ${record.user_id} FOR UPDATE`
        if (locked.length === 0) throw new ApiError('not_found', `Conversation ${record.conversation_id} not found`, 'conversation')
        await this.#append(tx as unknown as Sql, record.conversation_id, [...input, ...output])
        await tx`UPDATE conversations SET updated_at = now() WHERE id = ${record.conversation_id}`
      }
    })
  }

  async get(userId: string, id: string): Promise<ResponseRecord> {
    const [row] = await this.sql<ResponseRecord[]>`SELECT * FROM responses WHERE id = ${id} AND user_id = ${userId}`
    if (!row) throw new ApiError('not_found', `Response with id '${id}' not found.`, 'response_id')
    return row
  }

  async items(row: ResponseRecord, kind: 'input' | 'output'): Promise<StoredItem[]> {
    const rows = await this.sql<{ response_id: string; position: number; body: string }[]>`
      SELECT response_id, position, body FROM response_items WHERE response_id = ${row.id} AND kind = ${kind} ORDER BY position`
    return rows.map(this.#responseItem)
  }

  async inputItems(userId: string, id: string, q: ListInput): Promise<ItemPage> {
    const row = await this.get(userId, id)
    const items = (await this.items(row, 'input')).map((s) => s.item)
    return this.#paginate(items, q)
  }

  async delete(userId: string, id: string): Promise<void> {
    const gone = await this.sql`DELETE FROM responses WHERE id = ${id} AND user_id = ${userId} RETURNING id`
    if (gone.length === 0) throw new ApiError('not_found', `Response with id '${id}' not found.`, 'response_id')
  }

  /**
   * The history a `previous_response_id` stands for: every input and output item of it and of the responses before
   * it, oldest first. The named response must exist (404); a deleted one further back ends the chain there.
   */
  async chain(userId: string, id: string): Promise<{ head: ResponseRecord; items: StoredItem[] }> {
    const head = await this.get(userId, id).catch(() => {
      throw new ApiError('not_found', `Previous response with id '${id}' not found.`, 'previous_response_id')
    })
    const rows = await this.sql<{ response_id: string; position: number; body: string }[]>`
      WITH RECURSIVE chain (id, previous, depth) AS (
        SELECT id, previous_response_id, 0 FROM responses WHERE id = ${id} AND user_id = ${userId}
        UNION ALL
        SELECT r.id, r.previous_response_id, c.depth + 1 FROM responses r JOIN chain c ON r.id = c.previous
        WHERE r.user_id = ${userId} AND c.depth < ${MAX_CHAIN}
      )
      SELECT i.response_id, i.position, i.body FROM response_items i JOIN chain c ON c.id = i.response_id
      ORDER BY c.depth DESC, i.position
      LIMIT ${MAX_HISTORY_ITEMS}`
    return { head, items: rows.map(this.#responseItem) }
  }

  /** An item by id among the caller's stored responses and conversations (`item_reference`); null when none. */
  async findItem(userId: string, itemId: string): Promise<StoredItem | null> {
    const [r] = await this.sql<{ response_id: string; position: number; body: string }[]>`
      SELECT i.response_id, i.position, i.body FROM response_items i JOIN responses r ON r.id = i.response_id
      WHERE i.id = ${itemId} AND r.user_id = ${userId} ORDER BY r.created_at DESC LIMIT 1`
    if (r) return this.#responseItem(r)
    const [c] = await this.sql<{ row_id: string; body: string }[]>`
      SELECT i.row_id, i.body FROM conversation_items i JOIN conversations c ON c.id = i.conversation_id
      WHERE i.id = ${itemId} AND c.user_id = ${userId} ORDER BY i.seq DESC LIMIT 1`
    return c ? this.#conversationItem(c) : null
  }

  // --- conversations ---

  async createConversation(userId: string, metadata: Record<string, string>, items: StoredItem[]): Promise<ConversationRow> {
    const id = newId('conv')
    return this.sql.begin(async (tx) => {
      const [row] = await tx<ConversationRow[]>`
        INSERT INTO conversations (id, user_id, metadata) VALUES (${id}, ${userId}, ${tx.json(metadata as never)}) RETURNING id, user_id, metadata, created_at`
      await this.#append(tx as unknown as Sql, id, items)
      return row!
    })
  }

  async conversation(userId: string, id: string, param = 'conversation_id'): Promise<ConversationRow> {
    const [row] = await this.sql<ConversationRow[]>`SELECT id, user_id, metadata, created_at FROM conversations WHERE id = ${id} AND user_id = ${userId}`
    if (!row) throw new ApiError('not_found', `Conversation with id '${id}' not found.`, param)
    return row
  }

  async updateConversation(userId: string, id: string, metadata: Record<string, string>): Promise<ConversationRow> {
    const [row] = await this.sql<ConversationRow[]>`
      UPDATE conversations SET metadata = ${this.sql.json(metadata as never)}, updated_at = now() WHERE id = ${id} AND user_id = ${userId}
      RETURNING id, user_id, metadata, created_at`
    if (!row) throw new ApiError('not_found', `Conversation with id '${id}' not found.`, 'conversation_id')
    return row
  }

  async deleteConversation(userId: string, id: string): Promise<void> {
    const gone = await this.sql`DELETE FROM conversations WHERE id = ${id} AND user_id = ${userId} RETURNING id`
    if (gone.length === 0) throw new ApiError('not_found', `Conversation with id '${id}' not found.`, 'conversation_id')
  }

  /** Every item of a conversation, oldest first (a response's history). */
  async history(userId: string, id: string): Promise<StoredItem[]> {
    await this.conversation(userId, id, 'conversation')
    const rows = await this.sql<{ row_id: string; body: string }[]>`
      SELECT row_id, body FROM (
        SELECT row_id, body, seq FROM conversation_items WHERE conversation_id = ${id} ORDER BY seq DESC LIMIT ${MAX_HISTORY_ITEMS}
      ) newest ORDER BY seq`
    return rows.map(this.#conversationItem)
  }

  async listItems(userId: string, id: string, q: ListInput): Promise<ItemPage> {
    await this.conversation(userId, id)
    const after = q.after
      ? (await this.sql<{ seq: string }[]>`SELECT seq FROM conversation_items WHERE conversation_id = ${id} AND id = ${q.after} ORDER BY seq DESC LIMIT 1`)[0]
      : undefined
    if (q.after && !after) throw new ApiError('not_found', `Item with id '${q.after}' not found in this conversation.`, 'after')
    const asc = q.order === 'asc'
    const rows = await this.sql<{ row_id: string; body: string }[]>`
      SELECT row_id, body FROM conversation_items
      WHERE conversation_id = ${id} ${after ? (asc ? this.sql`AND seq > ${after.seq}` : this.sql`AND seq < ${after.seq}`) : this.sql``}
      ORDER BY seq ${asc ? this.sql`ASC` : this.sql`DESC`} LIMIT ${q.limit + 1}`
    return page(rows.map((r) => this.#conversationItem(r).item), q.limit)
  }

  async addItems(userId: string, id: string, items: StoredItem[]): Promise<void> {
    await this.sql.begin(async (tx) => {
      const locked = await tx`SELECT 1 FROM conversations WHERE id = ${id} AND user_id = ${userId} FOR UPDATE`
      if (locked.length === 0) throw new ApiError('not_found', `Conversation with id '${id}' not found.`, 'conversation_id')
      await this.#append(tx as unknown as Sql, id, items)
      await tx`UPDATE conversations SET updated_at = now() WHERE id = ${id}`
    })
  }

  async item(userId: string, id: string, itemId: string): Promise<StoredItem> {
    await this.conversation(userId, id)
    const [row] = await this.sql<{ row_id: string; body: string }[]>`
      SELECT row_id, body FROM conversation_items WHERE conversation_id = ${id} AND id = ${itemId} ORDER BY seq DESC LIMIT 1`
    if (!row) throw new ApiError('not_found', `Item with id '${itemId}' not found in this conversation.`, 'item_id')
    return this.#conversationItem(row)
  }

  async deleteItem(userId: string, id: string, itemId: string): Promise<void> {
    await this.conversation(userId, id)
    const gone = await this.sql`DELETE FROM conversation_items WHERE conversation_id = ${id} AND id = ${itemId} RETURNING row_id`
    if (gone.length === 0) throw new ApiError('not_found', `Item with id '${itemId}' not found in this conversation.`, 'item_id')
  }

  async #append(tx: Sql, conversationId: string, items: StoredItem[]): Promise<void> {
    const rows = items.map((s) => {
      const rowId = crypto.randomUUID()
      return { row_id: rowId, conversation_id: conversationId, id: s.item.id, body: this.#seal(s, `conversation-item:${rowId}`) }
    })
    // One statement per slice keeps the order of `seq` the order of the items.
    for (let i = 0; i < rows.length; i += 500) await tx`INSERT INTO conversation_items ${tx(rows.slice(i, i + 500))}`
  }

  #paginate(items: StoredItem['item'][], q: ListInput): ItemPage {
    const ordered = q.order === 'asc' ? items : [...items].reverse()
    let start = 0
    if (q.after) {
      const at = ordered.findIndex((i) => i.id === q.after)
      if (at < 0) throw new ApiError('not_found', `Item with id '${q.after}' not found.`, 'after')
      start = at + 1
    }
    return page(ordered.slice(start, start + q.limit + 1), q.limit)
  }
}
