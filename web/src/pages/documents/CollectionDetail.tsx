/**
 * One collection (/documents/:id): its settings and counts (editable), uploads, the live documents table, one
 * document's details in a drawer (?doc=<id>, so the view can be linked; opening it never scrolls the page) and the
 * search tester.
 */
import { createEffect, createResource, createSignal, Match, onCleanup, Show, Switch } from 'solid-js'
import { useNavigate, useSearchParams } from '@solidjs/router'
import { api } from '../../api.ts'
import { Pencil, Trash } from '../../icons.ts'
import { ConfirmButton, Drawer, ErrorAlert, Loading, PageHeader, formatNumber } from '../../ui.tsx'
import { CollectionForm } from './CreateCollection.tsx'
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
  const [collection, { refetch, mutate }] = createResource(() => props.id, (id) => api<Collection>('GET', `${RAG}/collections/${id}`))
  const [editing, setEditing] = createSignal(false)
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
    // Deleted meanwhile (here, elsewhere, or linked to when already gone): nothing is thrown; the details close.
    (id) => api<Doc>('GET', `${RAG}/documents/${id}`).catch(() => null),
  )
  const selected = () => (params.doc ? (inList(params.doc) ?? (fetched.latest?.id === params.doc ? fetched.latest : undefined)) : undefined)
  const close = () => navigate(base, { scroll: false, replace: true })
  createEffect(() => {
    if (params.doc && documents.loaded() && !inList(params.doc) && fetched.state === 'ready' && fetched() === null) close()
  })

  async function remove(c: Collection) {
    await api('DELETE', `${RAG}/collections/${c.id}`)
    navigate('/documents')
  }

  return (
    <section aria-labelledby="page-title" class="stack">
      <Switch>
        <Match when={collection.error}>
          <PageHeader title="Collection" back={{ href: '/documents', label: 'All collections' }} />
          <ErrorAlert error={collection.error} retry={() => void refetch()} />
        </Match>
        <Match when={collection.loading && !collection.latest}>
          <PageHeader title="Collection" back={{ href: '/documents', label: 'All collections' }} />
          <Loading label="Loading collection…" />
        </Match>
        <Match when={collection.latest}>
          {(c) => (
            <>
              <PageHeader title={c().name} back={{ href: '/documents', label: 'All collections' }}>
                  <Show when={!editing()}>
                    <button type="button" class="secondary" onClick={() => setEditing(true)}><Pencil /> Edit collection</button>
                  </Show>
                  <ConfirmButton
                    label="Delete collection"
                    class="danger"
                    icon={() => <Trash />}
                    title={`Delete the collection "${c().name}"?`}
                    message={`Its ${count(c().document_count, 'document')}, their chunks and stored files are deleted for good.`}
                    action={() => remove(c())}
                  />
              </PageHeader>
              <Show
                when={editing()}
                fallback={
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
                }
              >
                <CollectionForm
                  collection={c()}
                  onCancel={() => setEditing(false)}
                  onSaved={(saved) => {
                    mutate(saved)
                    setEditing(false)
                    // A re-index sets every document back to queued: the table hears it from the live events.
                  }}
                />
              </Show>
              <Uploader collectionId={props.id} docs={documents.docs} onAccepted={(doc) => documents.added(doc)} />
              <DocumentTable documents={documents} detailsHref={(doc) => detailsHref(doc.id)} />
              <Drawer
                open={Boolean(params.doc)}
                title={selected()?.title || selected()?.filename || 'Document'}
                onClose={close}
                testid="document-drawer"
              >
                <Switch>
                  <Match when={selected()}>{(doc) => <DocumentPanel doc={doc()} />}</Match>
                  <Match when={true}><Loading label="Loading document…" /></Match>
                </Switch>
              </Drawer>
              <SearchTester collection={c()} docs={documents.docs} detailsHref={detailsHref} />
            </>
          )}
        </Match>
      </Switch>
    </section>
  )
}
