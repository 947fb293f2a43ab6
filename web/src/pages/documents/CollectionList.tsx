/** Every collection the user can reach, with its counts, a form to create one and a confirmed delete. */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../../api.ts'
import { ConfirmButton, Empty, ErrorAlert, Loading, PageHeader, formatNumber } from '../../ui.tsx'
import { CreateCollection } from './CreateCollection.tsx'
import { RAG, count, formatBytes, type Collection } from './types.ts'

export function CollectionList() {
  const [collections, { refetch, mutate }] = createResource(() => api<{ data: Collection[] }>('GET', `${RAG}/collections`).then((r) => r.data))
  const [creating, setCreating] = createSignal(false)

  async function remove(c: Collection) {
    await api('DELETE', `${RAG}/collections/${c.id}`)
    mutate((list) => list?.filter((x) => x.id !== c.id))
  }

  return (
    <section aria-labelledby="page-title">
      <PageHeader title="Documents">
        <Show when={!creating()}>
          <button type="button" onClick={() => setCreating(true)}>New collection</button>
        </Show>
      </PageHeader>
      <p class="muted">Collections hold the documents chatbots and the API search. Upload files into a collection; they are indexed in the background.</p>
      <Show when={creating()}>
        <CreateCollection
          onCancel={() => setCreating(false)}
          onCreated={(c) => {
            setCreating(false)
            mutate((list) => [c, ...(list ?? [])])
          }}
        />
      </Show>
      <Switch>
        <Match when={collections.error}><ErrorAlert error={collections.error} retry={() => void refetch()} /></Match>
        <Match when={collections.loading && !collections.latest}><Loading label="Loading collections…" /></Match>
        <Match when={collections()?.length === 0}>
          <Empty title="No collections yet">Create a collection, then upload documents into it.</Empty>
        </Match>
        <Match when={collections()}>
          {(list) => (
            <div class="table-wrap docs-table-wrap">
              <table>
                <caption class="sr-only">Collections</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Search</th>
                    <th scope="col">Documents</th>
                    <th scope="col">Chunks</th>
                    <th scope="col">Size</th>
                    <th scope="col"><span class="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody>
                  <For each={list()}>
                    {(c) => (
                      <tr>
                        <td>
                          <A href={`/documents/${c.id}`}><strong>{c.name}</strong></A>
                          <Show when={c.description}><div class="muted docs-description">{c.description}</div></Show>
                        </td>
                        <td>
                          <Show when={c.embedding_model} fallback={<span class="badge">lexical only</span>}>
                            {(m) => <span class="badge ok" title="Hybrid search: words and meaning">{m()}</span>}
                          </Show>
                        </td>
                        <td>{formatNumber(c.document_count)}</td>
                        <td>{formatNumber(c.chunk_count)}</td>
                        <td>{formatBytes(c.bytes)}</td>
                        <td>
                          <ConfirmButton
                            label="Delete"
                            title={`Delete the collection "${c.name}"?`}
                            message={`Its ${count(c.document_count, 'document')}, their chunks and stored files are deleted for good. Chatbots using it lose their knowledge.`}
                            confirmLabel="Delete collection"
                            action={() => remove(c)}
                          />
                        </td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </div>
          )}
        </Match>
      </Switch>
    </section>
  )
}
