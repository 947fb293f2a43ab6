import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import { newId, textOf, type ChatMessage } from './items.ts'
import type { CreatePromptInput, PromptMessageInput, PromptVariableInput, UpdatePromptInput } from './model.ts'

interface PromptRow {
  id: string
  user_id: string
  name: string
  description: string
  latest_version: number
  created_at: Date
  updated_at: Date
}
interface VersionRow {
  version: number
  instructions: string
  messages: PromptMessageInput[]
  variables: PromptVariableInput[]
  created_at: Date
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g

/** The {{names}} a text uses. */
const placeholders = (text: string) => [...text.matchAll(PLACEHOLDER)].map((m) => m[1]!)

/** A template may use only the variables it declares: a typo is refused when it is saved, not when it is used. */
function checkTemplate(v: Pick<VersionRow, 'instructions' | 'messages' | 'variables'>): void {
  const declared = new Set(v.variables.map((x) => x.name))
  if (declared.size !== v.variables.length) throw new ApiError('validation_failed', 'Each variable may be declared once', 'variables')
  const used = [v.instructions, ...v.messages.map((m) => m.content)].flatMap(placeholders)
  const undeclared = [...new Set(used.filter((n) => !declared.has(n)))]
  if (undeclared.length)
    throw new ApiError('validation_failed', `The template uses undeclared variables: ${undeclared.map((n) => `{{${n}}}`).join(', ')}; declare them in "variables"`, 'variables')
}

export const presentPrompt = (p: PromptRow, v: VersionRow) => ({
  id: p.id,
  object: 'prompt' as const,
  name: p.name,
  description: p.description,
  version: v.version,
  instructions: v.instructions,
  messages: v.messages,
  variables: v.variables,
  created_at: p.created_at.toISOString(),
  updated_at: p.updated_at.toISOString(),
})
export const presentVersion = (v: VersionRow) => ({ ...v, created_at: v.created_at.toISOString() })

/**
 * Reusable prompt templates: instructions and messages with {{variables}}, each save a new version (older
 * versions stay usable by number), owner-scoped. A response names one as `prompt: {id, version?, variables}`.
 */
export class PromptService {
  constructor(readonly sql: Sql) {}

  async list(userId: string) {
    const rows = await this.sql<(PromptRow & VersionRow)[]>`
      SELECT p.*, v.version, v.instructions, v.messages, v.variables, v.created_at AS version_created_at
      FROM prompts p JOIN prompt_versions v ON v.prompt_id = p.id AND v.version = p.latest_version
      WHERE p.user_id = ${userId} ORDER BY p.updated_at DESC`
    return rows.map((r) => presentPrompt(r, r))
  }

  async #row(userId: string, id: string, param = 'id'): Promise<PromptRow> {
    const [row] = await this.sql<PromptRow[]>`SELECT * FROM prompts WHERE id = ${id} AND user_id = ${userId}`
    if (!row) throw new ApiError('not_found', `Prompt with id '${id}' not found.`, param)
    return row
  }

  async #version(p: PromptRow, version: number, param = 'version'): Promise<VersionRow> {
    const [v] = await this.sql<VersionRow[]>`
      SELECT version, instructions, messages, variables, created_at FROM prompt_versions WHERE prompt_id = ${p.id} AND version = ${version}`
    if (!v) throw new ApiError('not_found', `Prompt ${p.id} has no version ${version} (the latest is ${p.latest_version}).`, param)
    return v
  }

  async get(userId: string, id: string, version?: number) {
    const p = await this.#row(userId, id)
    return presentPrompt(p, await this.#version(p, version ?? p.latest_version))
  }

  async versions(userId: string, id: string) {
    const p = await this.#row(userId, id)
    const rows = await this.sql<VersionRow[]>`
      SELECT version, instructions, messages, variables, created_at FROM prompt_versions WHERE prompt_id = ${p.id} ORDER BY version DESC`
    return rows.map(presentVersion)
  }

  async create(userId: string, input: CreatePromptInput) {
    const v = { instructions: input.instructions ?? '', messages: input.messages ?? [], variables: input.variables ?? [] }
    if (!v.instructions && v.messages.length === 0) throw new ApiError('validation_failed', 'A prompt needs instructions or messages', 'instructions')
    checkTemplate(v)
    const id = newId('pmpt')
    return this.sql.begin(async (tx) => {
      const [p] = await tx<PromptRow[]>`
        INSERT INTO prompts (id, user_id, name, description, latest_version) VALUES (${id}, ${userId}, ${input.name}, ${input.description ?? ''}, 1)
        ON CONFLICT (user_id, name) DO NOTHING RETURNING *`
      if (!p) throw new ApiError('conflict', `You already have a prompt named "${input.name}"`, 'name')
      const [row] = await tx<VersionRow[]>`
        INSERT INTO prompt_versions (prompt_id, version, instructions, messages, variables)
        VALUES (${id}, 1, ${v.instructions}, ${tx.json(v.messages as never)}, ${tx.json(v.variables as never)})
        RETURNING version, instructions, messages, variables, created_at`
      return presentPrompt(p, row!)
    })
  }

  /** A new version from the latest with what the patch changes; a rename or description alone makes none. */
  async update(userId: string, id: string, patch: UpdatePromptInput) {
    return this.sql.begin(async (tx) => {
      const [p] = await tx<PromptRow[]>`SELECT * FROM prompts WHERE id = ${id} AND user_id = ${userId} FOR UPDATE`
      if (!p) throw new ApiError('not_found', `Prompt with id '${id}' not found.`, 'id')
      const [latest] = await tx<VersionRow[]>`
        SELECT version, instructions, messages, variables, created_at FROM prompt_versions WHERE prompt_id = ${id} AND version = ${p.latest_version}`
      const templateChanged = patch.instructions !== undefined || patch.messages !== undefined || patch.variables !== undefined
      let current: VersionRow = latest!
      if (templateChanged) {
        const v = { instructions: patch.instructions ?? current.instructions, messages: patch.messages ?? current.messages, variables: patch.variables ?? current.variables }
        if (!v.instructions && v.messages.length === 0) throw new ApiError('validation_failed', 'A prompt needs instructions or messages', 'instructions')
        checkTemplate(v)
        ;[current] = (await tx<VersionRow[]>`
          INSERT INTO prompt_versions (prompt_id, version, instructions, messages, variables)
          VALUES (${id}, ${p.latest_version + 1}, ${v.instructions}, ${tx.json(v.messages as never)}, ${tx.json(v.variables as never)})
          RETURNING version, instructions, messages, variables, created_at`) as unknown as [VersionRow]
      }
      const renamed = patch.name !== undefined && patch.name !== p.name
      if (renamed) {
        const [clash] = await tx`SELECT 1 FROM prompts WHERE user_id = ${userId} AND name = ${patch.name!} AND id <> ${id}`
        if (clash) throw new ApiError('conflict', `You already have a prompt named "${patch.name}"`, 'name')
      }
      const [updated] = await tx<PromptRow[]>`
        UPDATE prompts SET name = ${patch.name ?? p.name}, description = ${patch.description ?? p.description},
          latest_version = ${current!.version}, updated_at = now()
        WHERE id = ${id} RETURNING *`
      return presentPrompt(updated!, current!)
    })
  }

  async delete(userId: string, id: string): Promise<void> {
    const gone = await this.sql`DELETE FROM prompts WHERE id = ${id} AND user_id = ${userId} RETURNING id`
    if (gone.length === 0) throw new ApiError('not_found', `Prompt with id '${id}' not found.`, 'id')
  }

  /**
   * A prompt reference of a response, rendered: its instructions and messages with the variables filled in. A
   * variable without a value or default, or a value for a variable it does not declare, is a 400 naming it.
   */
  async render(
    userId: string,
    ref: { id: string; version?: string | null | undefined; variables?: Record<string, unknown> | null | undefined },
  ): Promise<{ instructions: string; messages: ChatMessage[]; reference: { id: string; version: string; variables: Record<string, string> } }> {
    const p = await this.#row(userId, ref.id, 'prompt.id')
    const v = await this.#version(p, ref.version ? Number(ref.version) : p.latest_version, 'prompt.version')
    const given = ref.variables ?? {}
    const values: Record<string, string> = {}
    for (const [name, value] of Object.entries(given)) {
      if (!v.variables.some((x) => x.name === name))
        throw new ApiError('validation_failed', `Prompt ${p.name} (version ${v.version}) has no variable "${name}"`, `prompt.variables.${name}`)
      values[name] = typeof value === 'string' ? value : textOf([value])
    }
    for (const x of v.variables) {
      if (values[x.name] !== undefined) continue
      if (x.default === undefined || x.default === null)
        throw new ApiError('validation_failed', `Prompt ${p.name} (version ${v.version}) needs a value for the variable "${x.name}"`, `prompt.variables.${x.name}`)
      values[x.name] = x.default
    }
    // One pass, so a value that contains {{other}} is left as the caller wrote it.
    const fill = (text: string) => text.replace(PLACEHOLDER, (_, name: string) => values[name] ?? '')
    return {
      instructions: fill(v.instructions),
      messages: v.messages.map((m) => ({ role: m.role === 'developer' ? 'system' : m.role, content: fill(m.content) })),
      reference: { id: p.id, version: String(v.version), variables: values },
    }
  }
}
