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

/** Fills `{{name}}` placeholders; unknown ones are left as they are so a typo is visible, not silently empty. */
export function renderPrompt(template: string, variables: Record<string, string>, now = new Date()): string {
  const values: Record<string, string> = { company: 'our organisation', ...variables, date: now.toISOString().slice(0, 10) }
  return template.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (whole, name: string) => values[name] ?? whole)
}
