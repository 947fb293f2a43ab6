/** One document: its facts and its chunks (position, page, section, text), reloaded when it is indexed again. */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api } from '../../api.ts'
import { Empty, ErrorAlert, formatDate, formatNumber, Loading } from '../../ui.tsx'
import { StatusCell } from './DocumentTable.tsx'
import { RAG, formatBytes, type Chunk, type Doc } from './types.ts'

const PAGE = 50

function where(chunk: Chunk): string[] {
  const parts: string[] = []
  if (chunk.page !== null) parts.push(`page ${chunk.page}`)
  if (chunk.sheet !== null) parts.push(`sheet ${chunk.sheet}`)
  if (chunk.rows !== null) parts.push(`rows ${chunk.rows[0]}–${chunk.rows[1]}`)
  if (chunk.heading) parts.push(`section “${chunk.heading}”`)
  parts.push(`${formatNumber(chunk.tokens)} tokens`)
  return parts
}

export function DocumentPanel(props: { doc: Doc }) {
  const [extra, setExtra] = createSignal<Chunk[]>([])
  // Keyed on the status and the indexing time: a re-indexed document has new chunks.
  const [chunks, { refetch }] = createResource(
    () => (props.doc.status === 'indexed' ? `${props.doc.id}:${props.doc.indexed_at}` : null),
    () => {
      setExtra([])
      return api<{ data: Chunk[]; total: number }>('GET', `${RAG}/documents/${props.doc.id}/chunks?limit=${PAGE}`)
    },
  )
  const shown = () => [...(chunks.latest?.data ?? []), ...extra()]
  const [moreError, setMoreError] = createSignal<unknown>(null)

  async function more() {
    setMoreError(null)
    try {
      const page = await api<{ data: Chunk[] }>('GET', `${RAG}/documents/${props.doc.id}/chunks?limit=${PAGE}&offset=${shown().length}`)
      setExtra((list) => [...list, ...page.data])
    } catch (e) {
      setMoreError(e)
    }
  }

  return (
    <div class="stack doc-panel">
      <dl>
        <dt>File</dt><dd>{props.doc.filename} ({props.doc.format}, {formatBytes(props.doc.size)})</dd>
        <dt>Status</dt><dd><StatusCell doc={props.doc} /></dd>
        <dt>Chunks</dt><dd>{formatNumber(props.doc.chunk_count)} ({formatNumber(props.doc.token_count)} tokens)</dd>
        <Show when={props.doc.record_count > 0}><dt>Records</dt><dd>{formatNumber(props.doc.record_count)}</dd></Show>
        <dt>Uploaded</dt><dd>{formatDate(props.doc.created_at)}</dd>
        <dt>Indexed</dt><dd>{formatDate(props.doc.indexed_at)}</dd>
        <dt>SHA-256</dt><dd><code>{props.doc.sha256}</code></dd>
      </dl>
      <h3>Chunks</h3>
      <Switch>
        <Match when={props.doc.status === 'failed'}><p class="muted">Indexing failed, so there are no chunks. Fix the file and upload it again, or reprocess it.</p></Match>
        <Match when={props.doc.status !== 'indexed'}><p class="muted" role="status">The chunks appear once the document is indexed.</p></Match>
        <Match when={chunks.error}><ErrorAlert error={chunks.error} retry={() => void refetch()} /></Match>
        <Match when={chunks.loading && !chunks.latest}><Loading label="Loading chunks…" /></Match>
        <Match when={shown().length === 0}><Empty title="No chunks">The document held no text to index.</Empty></Match>
        <Match when={true}>
          <ol class="chunks" aria-label={`Chunks of ${props.doc.filename}`}>
            <For each={shown()}>
              {(chunk) => (
                <li>
                  <p class="chunk-meta muted">#{chunk.position + 1} · {where(chunk).join(' · ')}</p>
                  <p class="chunk-text">{chunk.text}</p>
                </li>
              )}
            </For>
          </ol>
          <Show when={moreError()}><ErrorAlert error={moreError()} /></Show>
          <Show when={shown().length < (chunks.latest?.total ?? 0)}>
            <button class="secondary" type="button" onClick={() => void more()}>
              Show more chunks ({formatNumber((chunks.latest?.total ?? 0) - shown().length)} left)
            </button>
          </Show>
        </Match>
      </Switch>
    </div>
  )
}
