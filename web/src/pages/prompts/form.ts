/**
 * The prompt form's state and its conversion. Each save of the template (instructions, messages, variables) is a
 * new version on the server, so only what changed is sent: a rename alone makes none. The server's 400 names the
 * field (`name`, `messages.2.content`, `variables`), and its message is shown beside that field.
 */
import { ApiError } from '../../api.ts'
import type { Prompt, PromptVersion, Role } from './types.ts'

export interface MessageDraft {
  key: number
  role: Role
  content: string
}
export interface VariableDraft {
  key: number
  name: string
  description: string
  /** Empty: no default, so every response must pass a value. */
  default: string
}
export interface PromptFormState {
  name: string
  description: string
  instructions: string
  messages: MessageDraft[]
  variables: VariableDraft[]
}

export type FieldKey = 'name' | 'description' | 'instructions' | 'messages' | 'variables'
export interface FormErrors {
  fields: Partial<Record<FieldKey, string>>
  messages: Record<number, string>
  variables: Record<number, string>
}
export const noErrors = (): FormErrors => ({ fields: {}, messages: {}, variables: {} })
export const hasErrors = (e: FormErrors) => [e.fields, e.messages, e.variables].some((x) => Object.keys(x).length > 0)

let nextKey = 0
export const newMessage = (role: Role = 'user', content = ''): MessageDraft => ({ key: ++nextKey, role, content })
export const newVariable = (name = '', description = '', value = ''): VariableDraft => ({ key: ++nextKey, name, description, default: value })

/** A prompt, or one of its versions with the prompt's name and description, as the form edits it. */
export const fromPrompt = (p: Pick<Prompt, 'name' | 'description'> & Pick<PromptVersion, 'instructions' | 'messages' | 'variables'>): PromptFormState => ({
  name: p.name,
  description: p.description,
  instructions: p.instructions,
  messages: p.messages.map((m) => newMessage(m.role, m.content)),
  variables: p.variables.map((v) => newVariable(v.name, v.description ?? '', v.default ?? '')),
})
export const emptyForm = (): PromptFormState => ({ name: '', description: '', instructions: '', messages: [], variables: [] })

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

export function toBody(f: PromptFormState): { body: Record<string, unknown>; errors: FormErrors } {
  const errors = noErrors()
  if (!f.name.trim()) errors.fields.name = 'Give the prompt a name.'
  if (!f.instructions.trim() && f.messages.length === 0) errors.fields.instructions = 'Write instructions, or add a message.'
  f.variables.forEach((v, i) => {
    if (!NAME.test(v.name.trim())) errors.variables[i] = 'A variable name starts with a letter or _, then letters, digits or _ (up to 64).'
  })
  const body = {
    name: f.name.trim(),
    description: f.description,
    instructions: f.instructions,
    messages: f.messages.map((m) => ({ role: m.role, content: m.content })),
    variables: f.variables.map((v) => ({
      name: v.name.trim(),
      ...(v.description.trim() ? { description: v.description.trim() } : {}),
      ...(v.default ? { default: v.default } : {}),
    })),
  }
  return { body, errors }
}

/** What differs from the saved prompt, both sides converted alike; everything for a new one. */
export function changed(body: Record<string, unknown>, saved: Prompt | null): Record<string, unknown> {
  if (!saved) return body
  const before = toBody(fromPrompt(saved)).body as Record<string, unknown>
  return Object.fromEntries(Object.entries(body).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(before[k])))
}

const FIELDS: readonly FieldKey[] = ['name', 'description', 'instructions', 'messages', 'variables']

/** A refusal naming a field (`variables`, `messages.1.content`) as an error beside it; null when it names none. */
export function errorsFromApi(err: unknown): FormErrors | null {
  if (!(err instanceof ApiError) || !err.param) return null
  const [field, index] = err.param.split('.')
  if (!FIELDS.includes(field as FieldKey)) return null
  const errors = noErrors()
  if ((field === 'messages' || field === 'variables') && index !== undefined && /^\d+$/.test(index)) errors[field][Number(index)] = err.message
  else errors.fields[field as FieldKey] = err.message
  return errors
}
