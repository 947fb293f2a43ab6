/** Shapes of the prompts API: the server's own schemas (src/responses/model.ts), imported as types only. */
import type { PromptSchema, PromptVersionSchema } from '../../../../src/responses/model.ts'

export type Prompt = typeof PromptSchema.static
export type PromptVersion = typeof PromptVersionSchema.static
export type PromptMessage = Prompt['messages'][number]
export type PromptVariable = Prompt['variables'][number]
export type Role = PromptMessage['role']

export const PROMPTS = '/api-internal/v1/prompts'
export const ROLES: readonly Role[] = ['system', 'developer', 'user', 'assistant']
