import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { ChatbotType } from './model.ts'

/** The default system prompt of each chatbot type. {{company}} and {{date}} are filled in at chat time. */
export const DEFAULT_TEMPLATES: Record<ChatbotType, string> = {
  assistant: 'You are a helpful, precise assistant for {{company}}. Today is {{date}}. Answer clearly and say when you do not know.',
  customer_support:
    'You are a friendly customer support agent for {{company}}. Today is {{date}}. Solve the customer\'s problem step by step, ' +
    'stay polite, and never promise what the provided information does not support.',
  teacher: 'You are a patient teacher. Today is {{date}}. Explain concepts simply, check understanding, and give examples.',
  researcher: 'You are a careful research assistant. Today is {{date}}. Separate facts from assumptions and point to your sources.',
  creative_writer: 'You are a creative writing partner. Today is {{date}}. Offer vivid, original ideas and keep the user\'s voice.',
  custom: 'You are a helpful assistant. Today is {{date}}.',
}

/** What a `{{name}}` placeholder, and so a prompt variable, may be called. */
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/
/** Refused as variable names: wherever values are looked up by name on a plain object, these reach its prototype. */
export const RESERVED_VARIABLE_NAMES: readonly string[] = ['__proto__', 'constructor', 'prototype']
export const VARIABLE_RULE = `names match ${VARIABLE_NAME.source} and may not be ${RESERVED_VARIABLE_NAMES.join(', ')}`
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g

export const isVariableName = (name: string) => VARIABLE_NAME.test(name) && !RESERVED_VARIABLE_NAMES.includes(name)

/** The first of `variables` whose name breaks the rule ('' is such a name), or undefined. */
export function invalidVariableName(variables: Record<string, unknown>): string | undefined {
  return Object.keys(variables).find((name) => !isVariableName(name))
}

/**
 * Fills `{{name}}` placeholders from the chatbot's own variables and the built-in ones: `{{company}}` ("our
 * organisation" unless a variable sets it) and `{{date}}` (today, always). Nothing else resolves: the values sit in a
 * Map, so `{{constructor}}` or `{{toString}}` cannot reach Object.prototype, and stored variables with a reserved or
 * malformed name (from before the rule) are ignored. An unknown placeholder is left as written, so a typo is visible
 * in what the model gets rather than silently empty.
 */
export function renderPrompt(template: string, variables: Record<string, string>, now = new Date()): string {
  const values = new Map<string, string>([['company', 'our organisation']])
  for (const [name, value] of Object.entries(variables)) if (isVariableName(name) && typeof value === 'string') values.set(name, value)
  values.set('date', now.toISOString().slice(0, 10))
  return template.replace(PLACEHOLDER, (whole, name: string) => values.get(name) ?? whole)
}

export interface TemplateRow {
  id: string
  owner_id: string | null
  type: ChatbotType | null
  name: string
  content: string
  created_at: Date
  updated_at: Date
}

export const presentTemplate = (t: TemplateRow) => ({ ...t, created_at: t.created_at.toISOString(), updated_at: t.updated_at.toISOString() })

/**
 * Prompt templates: each type's default (built in, replaceable by an administrator, and reset by deleting the
 * replacement) and users' own named templates.
 */
export class TemplateService {
  constructor(readonly sql: Sql) {}

  /** The effective default of every type, and whether it is the built-in one. */
  async defaults(): Promise<Record<ChatbotType, { content: string; builtin: boolean }>> {
    const rows = await this.sql<TemplateRow[]>`SELECT * FROM prompt_templates WHERE owner_id IS NULL`
    return Object.fromEntries(
      (Object.keys(DEFAULT_TEMPLATES) as ChatbotType[]).map((type) => {
        const override = rows.find((r) => r.type === type)
        return [type, { content: override?.content ?? DEFAULT_TEMPLATES[type], builtin: !override }]
      }),
    ) as Record<ChatbotType, { content: string; builtin: boolean }>
  }

  async defaultFor(type: ChatbotType): Promise<string> {
    return (await this.defaults())[type].content
  }

  async setDefault(type: ChatbotType, content: string): Promise<void> {
    await this.sql`
      INSERT INTO prompt_templates (owner_id, type, name, content) VALUES (NULL, ${type}, ${`default ${type}`}, ${content})
      ON CONFLICT (type) WHERE owner_id IS NULL DO UPDATE SET content = excluded.content, updated_at = now()`
  }

  async resetDefault(type: ChatbotType): Promise<void> {
    await this.sql`DELETE FROM prompt_templates WHERE owner_id IS NULL AND type = ${type}`
  }

  async list(ownerId: string): Promise<TemplateRow[]> {
    return [...(await this.sql<TemplateRow[]>`SELECT * FROM prompt_templates WHERE owner_id = ${ownerId} ORDER BY name`)]
  }

  async get(ownerId: string, id: string): Promise<TemplateRow> {
    const [row] = await this.sql<TemplateRow[]>`SELECT * FROM prompt_templates WHERE id = ${id} AND owner_id = ${ownerId}`
    if (!row) throw new ApiError('not_found', `Template ${id} not found`)
    return row
  }

  async create(ownerId: string, input: { name: string; content: string; type?: ChatbotType | undefined }): Promise<TemplateRow> {
    const [row] = await this.sql<TemplateRow[]>`
      INSERT INTO prompt_templates (owner_id, type, name, content) VALUES (${ownerId}, ${input.type ?? null}, ${input.name}, ${input.content})
      RETURNING *`
    return row!
  }

  async update(ownerId: string, id: string, patch: { name?: string | undefined; content?: string | undefined }): Promise<TemplateRow> {
    await this.get(ownerId, id)
    const fields = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined))
    const [row] = await this.sql<TemplateRow[]>`UPDATE prompt_templates SET ${this.sql(fields)}, updated_at = now() WHERE id = ${id} RETURNING *`
    return row!
  }

  async delete(ownerId: string, id: string): Promise<void> {
    await this.get(ownerId, id)
    await this.sql`DELETE FROM prompt_templates WHERE id = ${id}`
  }
}
