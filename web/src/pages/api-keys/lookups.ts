/**
 * The names the key form and the detail view show for models, chatbots and collections (and key owners, for
 * administrators). Each list is fetched only
 * when the person may read it; the server, not these lists, decides what a key may reach.
 */
import { createResource } from 'solid-js'
import { api } from '../../api.ts'

export interface Named {
  id: string
  name: string
}

/** A list that cannot load leaves its picker empty (ids still show); it must not break the form around it. */
const none = (): Named[] => []

export function useLookups(can: (permission: string) => boolean) {
  const [models] = createResource(
    () => can('llm:use'),
    () => api<{ data: { id: string }[] }>('GET', '/api-internal/v1/llm/models').then((r) => r.data.map((m) => ({ id: m.id, name: m.id })), none),
  )
  const [chatbots] = createResource(
    () => can('chatbots:use'),
    () => api<{ data: Named[] }>('GET', '/api-internal/v1/chatbots').then((r) => r.data, none),
  )
  const [collections] = createResource(
    () => can('rag:read'),
    () => api<{ data: Named[] }>('GET', '/api-internal/v1/rag/collections').then((r) => r.data, none),
  )
  // Only an administrator's view of everyone's keys names owners.
  const [owners] = createResource(
    () => can('users:read') && can('api_keys:admin'),
    () =>
      api<{ data: { id: string; email: string }[] }>('GET', '/api-internal/v1/users?limit=200').then(
        (r) => r.data.map((u) => ({ id: u.id, name: u.email })),
        none,
      ),
  )
  return { models, chatbots, collections, owners }
}

export type Lookups = ReturnType<typeof useLookups>

/** The names of `ids` where known, else the ids themselves. */
export const namesOf = (ids: string[], known: Named[] | undefined) => ids.map((id) => known?.find((k) => k.id === id)?.name ?? id)
