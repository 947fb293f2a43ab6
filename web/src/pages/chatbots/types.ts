/** The chatbot API's shapes as the dashboard reads them, from the server's schemas where it has them, and small shared helpers. */
import type { ChatbotSchema, SourceSchema } from '../../../../src/chatbots/model.ts'

export const CHATBOT_TYPES = ['assistant', 'customer_support', 'teacher', 'researcher', 'creative_writer', 'custom'] as const
export type ChatbotType = (typeof CHATBOT_TYPES)[number]

export const TYPE_LABELS: Record<ChatbotType, string> = {
  assistant: 'Assistant',
  customer_support: 'Customer support',
  teacher: 'Teacher',
  researcher: 'Researcher',
  creative_writer: 'Creative writer',
  custom: 'Custom',
}

export type RagMode = 'lexical' | 'vector' | 'hybrid'

export type Chatbot = typeof ChatbotSchema.static

export interface Model {
  id: string
  owned_by: string
  confidential: boolean
}

export interface Collection {
  id: string
  name: string
  document_count: number
  embedding_model: string | null
}

export type Source = typeof SourceSchema.static

export interface Conversation {
  id: string
  title: string
  source: string
  created_at: string
  updated_at: string
}

export interface StoredMessage {
  id: string | number
  role: 'user' | 'assistant' | string
  content: string
  sources: Source[] | null
  model: string | null
  latency_ms: number | null
  created_at: string
}

export interface Templates {
  defaults: Record<ChatbotType, { content: string; builtin: boolean }>
  custom: { id: string; name: string; type: ChatbotType | null; content: string; updated_at: string }[]
}

export const BASE = '/api-internal/v1/chatbots'
