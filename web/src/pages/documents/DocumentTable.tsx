/** The collection's documents with live status and progress, and their actions. */
import { createSignal, For, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { ConfirmButton, Empty, ErrorAlert, formatDate, formatNumber } from '../../ui.tsx'
import { deleteDocument, download } from './actions.ts'
import type { Documents } from './live.ts'
import { formatBytes, type Doc } from './types.ts'
import { ResponsiveTable } from '../../table.tsx'
import { FileText } from '../../icons.ts'

export function StatusCell(props: { doc: Doc }) {
  return (
    <Switch>
      <Match when={props.doc.status === 'indexed'}><span class="badge ok">indexed</span></Match>
      <Match when={props.doc.status === 'failed'}>
        <span class="badge bad">failed</span>
        <Show when={props.doc.error}><p class="doc-error">{props.doc.error}</p></Show>
      </Match>
      <Match when={props.doc.status === 'processing'}>
        <span class="badge warn">processing</span>
        <div class="progress doc-progress" role="progressbar" aria-label={`Indexing ${props.doc.filename}`} aria-valuemin="0" aria-valuemax="100" aria-valuenow={Math.round(props.doc.progress * 100)}>
          <span style={{ width: `${Math.round(props.doc.progress * 100)}%` }} />
        </div>
      </Match>
      <Match when={true}><span class="badge">queued</span></Match>
    </Switch>
  )
}

export function DocumentTable(props: { documents: Documents; detailsHref: (doc: Doc) => string }) {
  const docs = () => props.documents.docs
  const [actionError, setActionError] = createSignal<unknown>(null)
  const [more, setMore] = createSignal(false)

  async function run(fn: () => Promise<unknown>) {
    setActionError(null)
    try {
      await fn()
    } catch (e) {
      setActionError(e)
    }
  }

  return (
    <section class="stack" aria-labelledby="docs-title">
      <h2 id="docs-title">Documents <span class="muted">({formatNumber(props.documents.total())})</span></h2>
      <Show when={actionError()}><ErrorAlert error={actionError()} /></Show>
      <Switch>
        <Match when={props.documents.error() && !props.documents.loaded()}>
          <ErrorAlert error={props.documents.error()} retry={() => void props.documents.reload()} />
        </Match>
        <Match when={!props.documents.loaded()}><p class="muted" role="status">Loading documents…</p></Match>
        <Match when={docs().length === 0}>
          <Empty title="No documents yet" icon={() => <FileText />}>Upload files above; they are indexed in the background.</Empty>
        </Match>
        <Match when={true}>
          <ResponsiveTable wrapClass="docs-table-wrap">
              <caption class="sr-only">Documents</caption>
              <thead>
                <tr>
                  <th scope="col">File</th>
                  <th scope="col">Status</th>
                  <th scope="col">Chunks</th>
                  <th scope="col">Size</th>
                  <th scope="col">Uploaded</th>
                  <th scope="col"><span class="sr-only">Actions</span></th>
                </tr>
              </thead>
              <tbody>
                <For each={docs()}>
                  {(doc) => (
                    <tr data-testid="document-row">
                      <td class="doc-name">
                        <A noScroll href={props.detailsHref(doc)} aria-label={`Details of ${doc.filename}`}>{doc.filename}</A>
                        <div class="muted">{doc.format}</div>
                      </td>
                      <td class="doc-status" aria-live="polite"><StatusCell doc={doc} /></td>
                      <td>{formatNumber(doc.chunk_count)}</td>
                      <td>{formatBytes(doc.size)}</td>
                      <td>{formatDate(doc.created_at)}</td>
                      <td>
                        <div class="actions doc-actions">
                          <button class="secondary small" type="button" aria-label={`Download ${doc.filename}`} onClick={() => void run(() => download(doc))}>Download</button>
                          <button
                            class="secondary small"
                            type="button"
                            aria-label={`Reprocess ${doc.filename}`}
                            disabled={doc.status === 'queued' || doc.status === 'processing'}
                            onClick={() => void run(() => props.documents.reprocess(doc))}
                          >
                            Reprocess
                          </button>
                          <ConfirmButton
                            label="Delete"
                            title={`Delete "${doc.filename}"?`}
                            message="The file, its chunks and its vectors are deleted for good; search stops finding it."
                            confirmLabel="Delete document"
                            action={async () => {
                              await deleteDocument(doc)
                              props.documents.remove(doc.id)
                            }}
                          />
                        </div>
                      </td>
                    </tr>
                  )}
                </For>
              </tbody>

          </ResponsiveTable>
          <Show when={docs().length < props.documents.total()}>
            <button
              class="secondary"
              type="button"
              disabled={more()}
              onClick={() => {
                setMore(true)
                void run(() => props.documents.loadMore()).finally(() => setMore(false))
              }}
            >
              Show more ({formatNumber(props.documents.total() - docs().length)} left)
            </button>
          </Show>
        </Match>
      </Switch>
    </section>
  )
}
