/**
 * One collection (/documents/:id): its settings and counts, uploads, the live documents table, one document's
 * details (?doc=<id>, so the view can be linked) and the search tester.
 */
import { createResource, Match, onCleanup, Show, Switch } from 'solid-js'
import { A, useNavigate, useSearchParams } from '@solidjs/router'
import { api } from '../../api.ts'
import { ConfirmButton, ErrorAlert, Loading, PageHeader, formatNumber } from '../../ui.tsx'
import { DocumentPanel } from './DocumentPanel.tsx'
import { DocumentTable } from './DocumentTable.tsx'
import { createDocuments } from './live.ts'
import { SearchTester } from './SearchTester.tsx'
import { RAG, count, formatBytes, type Collection, type Doc } from './types.ts'
import { Uploader } from './Uploader.tsx'

/** Counts change with every finished document; a burst of them is one refetch. */
const COUNTS_DELAY_MS = 500

export function CollectionDetail(props: { id: string }) {
  const navigate = useNavigate()
  const [params] = useSearchParams<{ doc?: string }>()
  const [collection, { refetch }] = createResource(() => props.id, (id) => api<Collection>('GET', `${RAG}/collections/${id}`))
  let countsTimer: ReturnType<typeof setTimeout> | undefined
  onCleanup(() => clearTimeout(countsTimer))
  const documents = createDocuments(props.id, () => {
    clearTimeout(countsTimer)
    countsTimer = setTimeout(() => void refetch(), COUNTS_DELAY_MS)
  })

  const base = `/documents/${props.id}`
  const detailsHref = (documentId: string) => `${base}?doc=${documentId}`
  const inList = (id: string) => documents.docs.find((d) => d.id === id)
  // A document linked to (or found by search) that is not on the loaded page of the list.
  const [fetched] = createResource(
    () => (params.doc && documents.loaded() && !inList(params.doc) ? params.doc : null),
    // Deleted meanwhile (here, elsewhere, or linked to when already gone): nothing is shown, nothing is thrown.
    (id) => api<Doc>('GET', `${RAG}/documents/${id}`).catch(() => undefined),
  )
  const selected = () => (params.doc ? (inList(params.doc) ?? (fetched.latest?.id === params.doc ? fetched.latest : undefined)) : undefined)

  async function remove(c: Collection) {
    await api('DELETE', `${RAG}/collections/${c.id}`)
    navigate('/documents')
  }

  return (
    <section aria-labelledby="page-title" class="stack">
      <p class="breadcrumb"><A href="/documents">← All collections</A></p>
      <Switch>
        <Match when={collection.error}><ErrorAlert error={collection.error} retry={() => void refetch()} /></Match>
        <Match when={collection.loading && !collection.latest}><Loading label="Loading collection…" /></Match>
        <Match when={collection.latest}>
          {(c) => (
            <>
              <PageHeader title={c().name}>
                <ConfirmButton
                  label="Delete collection"
                  title={`Delete the collection "${c().name}"?`}
                  message={`Its ${count(c().document_count, 'document')}, their chunks and stored files are deleted for good.`}
                  action={() => remove(c())}
                />
              </PageHeader>
              <div class="card">
                <Show when={c().description}><p class="docs-description">{c().description}</p></Show>
                <dl class="collection-facts" data-testid="collection-facts">
                  <dt>Search</dt>
                  <dd>{c().embedding_model ? `hybrid (embedding model ${c().embedding_model})` : 'lexical only (no embedding model)'}</dd>
                  <dt>Chunking</dt>
                  <dd>{formatNumber(c().chunk_tokens)} tokens, {formatNumber(c().chunk_overlap)} overlap</dd>
                  <dt>Contents</dt>
                  <dd>{count(c().document_count, 'document')}, {count(c().chunk_count, 'chunk')}, {formatBytes(c().bytes)}</dd>
                  <dt>Updates</dt>
                  <dd>
                    {documents.liveness() === 'live' ? 'live' : documents.liveness() === 'polling' ? 'checking every few seconds (live updates unavailable)' : 'connecting…'}
                  </dd>
                </dl>
              </div>
              <Uploader collectionId={props.id} docs={documents.docs} onAccepted={(doc) => documents.added(doc)} />
              <DocumentTable documents={documents} detailsHref={(doc) => detailsHref(doc.id)} />
              <Show when={params.doc}>
                <Switch>
                  <Match when={selected()}>{(doc) => <DocumentPanel doc={doc()} closeHref={base} />}</Match>
                  <Match when={fetched.error}><ErrorAlert error={fetched.error} /></Match>
                  <Match when={documents.loaded()}><Loading label="Loading document…" /></Match>
                </Switch>
              </Show>
              <SearchTester collection={c()} detailsHref={detailsHref} />
            </>
          )}
        </Match>
      </Switch>
    </section>
  )
}
