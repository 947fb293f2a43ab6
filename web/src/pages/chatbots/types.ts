/** The chatbot API's shapes as the dashboard reads them (see src/chatbots/model.ts), and small shared helpers. */

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

export interface Chatbot {
  id: string
  owner_id: string
  name: string
  type: ChatbotType
  model: string
  system_prompt: string
  prompt_variables: Record<string, string>
  temperature: number
  max_tokens: number
  context_window: number
  memory_length: number
  rag_collections: string[]
  rag_top_k: number
  rag_score_threshold: number | null
  rag_mode: RagMode | null
  fallback_response: string | null
  must_cite: boolean
  is_active: boolean
  created_at: string
  updated_at: string
}

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

export interface Source {
  index: number
  document_id: string
  document_name: string
  collection_id: string
  chunk_id: number
  score: number
  snippet: string
}

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
