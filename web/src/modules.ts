/**
 * Which platform modules (chatbots, rag, agents, plugins, playground) are enabled, fetched once per session and
 * again every minute (and at once after an administrator changes one here), so the navigation hides a disabled
 * module's section. A disabled module's pages still answer, with the server's "module disabled" error.
 */
import { createResource, createRoot, onCleanup } from 'solid-js'
import { api } from './api.ts'
import { status, user } from './session.ts'

export type ModuleName = 'chatbots' | 'rag' | 'agents' | 'plugins' | 'playground'

export interface ModuleInfo {
  name: ModuleName
  title: string
  description: string
  enabled: boolean
  reason: string | null
  updated_at: string | null
  updated_by: string | null
  background: 'running' | 'paused' | 'none'
  background_work: string | null
  stats: Record<string, number> | null
}

const REFRESH_MS = 60_000

const store = createRoot(() => {
  const [modules, { refetch, mutate }] = createResource(
    () => (status() === 'signed-in' && user() ? user()!.id : false),
    () => api<{ data: ModuleInfo[] }>('GET', '/api-internal/v1/modules?stats=false').then((r) => r.data),
  )
  const timer = setInterval(() => {
    if (status() === 'signed-in') void refetch()
  }, REFRESH_MS)
  onCleanup(() => clearInterval(timer))
  return { modules, refetch, mutate }
})

/** Whether a module's section should be shown: not before the list arrives (nothing appears and then vanishes). */
export function moduleEnabled(name: ModuleName): boolean {
  if (store.modules.error) return true
  return store.modules.latest?.find((m) => m.name === name)?.enabled ?? false
}

export const modules = store.modules
export const refreshModules = () => void store.refetch()
/** After a change made here: the answer of enable/disable replaces its entry at once. */
export function updateModule(next: ModuleInfo): void {
  store.mutate((list) => (list ?? []).map((m) => (m.name === next.name ? { ...next, stats: null } : m)))
}
