/**
 * A collection's documents, kept current: loaded once, then changed by the collection's server-sent events (status,
 * progress, errors as the indexer works). When the stream ends the list is polled instead while anything is still
 * queued or processing.
 */
import { createSignal, onCleanup } from 'solid-js'
import { createStore, reconcile } from 'solid-js/store'
import { api } from '../../api.ts'
import { reprocess as reprocessDocument } from './actions.ts'
import { followEvents } from './events.ts'
import { RAG, finished, type Doc, type DocEvent } from './types.ts'

const PAGE = 100
const POLL_MS = 3000
/** Events for documents this page has not seen yet (uploaded elsewhere) are gathered into one reload. */
const RELOAD_DELAY_MS = 300

export type Liveness = 'connecting' | 'live' | 'polling'

type EventFields = Pick<Doc, 'status' | 'progress' | 'error' | 'chunk_count'>

export function createDocuments(collectionId: string, onChange: () => void) {
  const [docs, setDocs] = createStore<Doc[]>([])
  const [total, setTotal] = createSignal(0)
  const [loaded, setLoaded] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)
  const [liveness, setLiveness] = createSignal<Liveness>('connecting')
  const stop = new AbortController()
  /**
   * Events arrive in order, so the last one received is a document's newest state; a snapshot (a list, a GET, an
   * action's answer) read while events were arriving may be older. Each event gets a sequence number; a snapshot
   * requested at sequence n keeps the event fields of any document that had an event after n.
   */
  let sequence = 0
  const lastEvent = new Map<string, number>()
  const merge = (fresh: Doc, since: number): Doc => {
    const current = docs.find((d) => d.id === fresh.id)
    if (!current || (lastEvent.get(fresh.id) ?? -1) <= since) return fresh
    const kept: EventFields = { status: current.status, progress: current.progress, error: current.error, chunk_count: current.chunk_count }
    return { ...fresh, ...kept }
  }
  let pollTimer: ReturnType<typeof setInterval> | undefined
  let reloadTimer: ReturnType<typeof setTimeout> | undefined
  onCleanup(() => {
    stop.abort()
    clearInterval(pollTimer)
    clearTimeout(reloadTimer)
  })

  const listPath = (limit: number, offset: number) => `${RAG}/collections/${collectionId}/documents?limit=${limit}&offset=${offset}`

  /** Reloads as many documents as are shown (at least a page), keeping rows that did not change. */
  async function reload(): Promise<void> {
    const since = sequence
    try {
      const page = await api<{ data: Doc[]; total: number }>('GET', listPath(Math.min(500, Math.max(PAGE, docs.length)), 0), { signal: stop.signal })
      setDocs(reconcile(page.data.map((d) => merge(d, since)), { key: 'id' }))
      setTotal(page.total)
      setError(null)
      setLoaded(true)
      onChange()
    } catch (e) {
      if (!stop.signal.aborted) setError(e)
    }
  }

  async function loadMore(): Promise<void> {
    const page = await api<{ data: Doc[]; total: number }>('GET', listPath(PAGE, docs.length), { signal: stop.signal })
    const seen = new Set(docs.map((d) => d.id))
    setDocs((list) => [...list, ...page.data.filter((d) => !seen.has(d.id))])
    setTotal(page.total)
  }

  function scheduleReload() {
    clearTimeout(reloadTimer)
    reloadTimer = setTimeout(() => void reload(), RELOAD_DELAY_MS)
  }

  /** A document just uploaded; an event (and the reload it caused) may already have brought it, newer. */
  function added(doc: Doc) {
    if (docs.some((d) => d.id === doc.id)) return
    setDocs((list) => [doc, ...list])
    setTotal((n) => n + 1)
    onChange()
  }

  async function reprocess(doc: Doc) {
    const since = sequence
    const fresh = await reprocessDocument(doc)
    const i = docs.findIndex((d) => d.id === doc.id)
    if (i >= 0) setDocs(i, merge(fresh, since))
  }

  function remove(id: string) {
    setDocs((list) => list.filter((d) => d.id !== id))
    setTotal((n) => Math.max(0, n - 1))
    onChange()
  }

  async function refreshOne(id: string) {
    const since = sequence
    try {
      const doc = await api<Doc>('GET', `${RAG}/documents/${id}`, { signal: stop.signal })
      const i = docs.findIndex((d) => d.id === id)
      if (i >= 0) setDocs(i, merge(doc, since))
    } catch {
      // Deleted meanwhile, or offline: the event's fields are already shown.
    }
  }

  function apply(e: DocEvent) {
    lastEvent.set(e.id, ++sequence)
    const i = docs.findIndex((d) => d.id === e.id)
    // Deleted elsewhere (another tab or person): the row goes, as it does for a delete made here.
    if (e.status === 'deleted') return i >= 0 ? remove(e.id) : undefined
    // Read before the write: the store's row is a live proxy.
    const was = docs[i]?.status
    if (was === undefined) return scheduleReload()
    setDocs(i, { status: e.status, progress: e.progress, error: e.error, chunk_count: e.chunk_count })
    // A finished document has new counts, a title and an indexed time the event does not carry.
    if (finished(e.status) && !finished(was)) {
      void refreshOne(e.id)
      onChange()
    }
  }

  function poll() {
    setLiveness('polling')
    pollTimer = setInterval(() => {
      if (docs.some((d) => !finished(d.status))) void reload()
    }, POLL_MS)
  }

  void reload()
  void followEvents(collectionId, { onOpen: () => setLiveness('live'), onEvent: apply }, stop.signal).then(() => {
    if (!stop.signal.aborted) poll()
  })

  return { docs, total, loaded, error, liveness, reload, loadMore, added, reprocess, remove }
}

export type Documents = ReturnType<typeof createDocuments>
