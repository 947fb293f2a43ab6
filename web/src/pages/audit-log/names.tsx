/**
 * Audit rows name what they are about: the resource's current name (a user's email, a key's, chatbot's or
 * collection's name) linked to its page, instead of a cut id. Each list is fetched only once a row of that type is
 * shown and only when the person may read it; a resource that is gone keeps its id (in full, on hover).
 */
import { createResource, createRoot, Show, type JSX } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../../api.ts'
import { useMe } from '../../me.ts'
import type { AuditRecord } from './model.ts'

interface Source {
  permission: string
  list: () => Promise<{ id: string; name: string }[]>
}

const named = (path: string) => () => api<{ data: { id: string; name: string }[] }>('GET', path).then((r) => r.data.map((x) => ({ id: x.id, name: x.name })))

/** Where each resource type's names come from. */
const SOURCES: Record<string, Source> = {
  user: {
    permission: 'users:read',
    list: () => api<{ data: { id: string; email: string }[] }>('GET', '/api-internal/v1/users?limit=200').then((r) => r.data.map((u) => ({ id: u.id, name: u.email }))),
  },
  api_key: { permission: 'api_keys:admin', list: named('/api-internal/v1/api-keys?limit=200&all=true') },
  chatbot: { permission: 'chatbots:use', list: named('/api-internal/v1/chatbots') },
  collection: { permission: 'rag:read', list: named('/api-internal/v1/rag/collections') },
  budget: { permission: 'api_keys:read', list: named('/api-internal/v1/budgets') },
  agent: { permission: 'agents:use', list: named('/api-internal/v1/agents') },
  mcp_server: { permission: 'mcp:use', list: named('/api-internal/v1/mcp-servers') },
  prompt: { permission: 'llm:use', list: named('/api-internal/v1/prompts') },
}

/** The page a resource of a type lives on, when it has one. */
export function resourceHref(type: string | null, id: string | null): string | null {
  if (!type || !id) return null
  const base: Record<string, string> = {
    user: '/users',
    api_key: '/api-keys',
    chatbot: '/chatbots',
    collection: '/documents',
    budget: '/budgets',
    agent: '/agents',
    mcp_server: '/mcp-servers',
    plugin: '/plugins',
    prompt: '/prompts',
  }
  if (type === 'provider' || type === 'model') return '/providers'
  return base[type] ? `${base[type]}/${encodeURIComponent(id)}` : null
}

const TYPE_WORDS: Record<string, string> = { api_key: 'API key', mcp_server: 'MCP server', rag_document: 'document', notification_channel: 'notification channel' }
export const typeWords = (type: string) => TYPE_WORDS[type] ?? type.replace(/_/g, ' ')

const shortId = (id: string) => (id.length > 13 ? `${id.slice(0, 8)}…` : id)

export function useResourceNames() {
  const { can } = useMe()
  const cache = new Map<string, ReturnType<typeof load>>()
  // Created on first need, from inside whichever row asks: a root of their own keeps them for the page's life.
  function load(_type: string, source: Source) {
    return createRoot(() => {
      const [names] = createResource(() => source.list().then((rows) => new Map(rows.map((r) => [r.id, r.name])), () => new Map<string, string>()))
      return names
    })
  }
  /** The resource's current name, or null when unknown (or not the person's to read). */
  function name(type: string | null, id: string | null): string | null {
    if (!type || !id) return null
    const source = SOURCES[type]
    if (!source || !can(source.permission)) return null
    let names = cache.get(type)
    if (!names) {
      names = load(type, source)
      cache.set(type, names)
    }
    return names.latest?.get(id) ?? null
  }
  return { name }
}

/** The resource of an event: its type in words and its name, linked where it has a page. */
export function ResourceCell(props: { record: AuditRecord; names: ReturnType<typeof useResourceNames> }): JSX.Element {
  const r = () => props.record
  const label = () => props.names.name(r().resource_type, r().resource_id) ?? (r().resource_id ? shortId(r().resource_id ?? '') : '')
  const href = () => resourceHref(r().resource_type, r().resource_id)
  return (
    <Show when={r().resource_type} fallback="—">
      <span class="muted">{typeWords(r().resource_type ?? '')}</span>{' '}
      <Show when={r().resource_id}>
        <Show when={href()} fallback={<span title={r().resource_id ?? ''}>{label()}</span>}>
          {(h) => <A href={h()} title={r().resource_id ?? ''}>{label()}</A>}
        </Show>
      </Show>
    </Show>
  )
}
