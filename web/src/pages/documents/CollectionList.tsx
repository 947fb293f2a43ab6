/** Every collection the user can reach, with its counts, a form to create one and a confirmed delete. */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A, useNavigate } from '@solidjs/router'
import { api } from '../../api.ts'
import { Library, Plus, Trash } from '../../icons.ts'
import { useOwners } from '../../owners.ts'
import { ResponsiveTable } from '../../table.tsx'
import { ConfirmButton, Empty, ErrorAlert, Loading, PageHeader, formatNumber } from '../../ui.tsx'
import { CreateCollection } from './CreateCollection.tsx'
import { RAG, count, formatBytes, type Collection } from './types.ts'

export function CollectionList() {
  const navigate = useNavigate()
  const owners = useOwners()
  const [collections, { refetch, mutate }] = createResource(() => api<{ data: Collection[] }>('GET', `${RAG}/collections`).then((r) => r.data))
  const [creating, setCreating] = createSignal(false)
  const [onlyMine, setOnlyMine] = createSignal(false)
  const mixed = () => owners.mixed(collections.latest)
  const shown = () => (collections.latest ?? []).filter((c) => !onlyMine() || owners.mine(c.owner_id))

  async function remove(c: Collection) {
    await api('DELETE', `${RAG}/collections/${c.id}`)
    mutate((list) => list?.filter((x) => x.id !== c.id))
  }

  return (
    <section aria-labelledby="page-title">
      <PageHeader
        title="Documents"
        description="Collections hold the documents chatbots, agents and the API search. Upload files into a collection; they are indexed in the background."
      >
        <Show when={!creating()}>
          <button type="button" onClick={() => setCreating(true)}><Plus /> New collection</button>
        </Show>
      </PageHeader>
      <Show when={creating()}>
        <CreateCollection
          onCancel={() => setCreating(false)}
          // A new collection is empty: the next thing to do is to upload into it, on its own page.
          onCreated={(c) => navigate(`/documents/${c.id}`)}
        />
      </Show>
      <Switch>
        <Match when={collections.error}><ErrorAlert error={collections.error} retry={() => void refetch()} /></Match>
        <Match when={collections.loading && !collections.latest}><Loading label="Loading collections…" /></Match>
        <Match when={collections.latest?.length === 0}>
          <Empty title="No collections yet" icon={() => <Library />}>
            Create a collection, then upload documents into it.
          </Empty>
        </Match>
        <Match when={collections.latest}>
          <Show when={mixed()}>
            <label class="check">
              <input type="checkbox" checked={onlyMine()} onChange={(e) => setOnlyMine(e.currentTarget.checked)} />
              Only my collections (as an administrator you see everyone's)
            </label>
          </Show>
          <ResponsiveTable caption={mixed() ? 'Collections of every user' : 'Your collections'} wrapClass="docs-table-wrap">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <Show when={mixed()}><th scope="col">Owner</th></Show>
                <th scope="col">Search</th>
                <th scope="col" class="num">Documents</th>
                <th scope="col" class="num">Chunks</th>
                <th scope="col" class="num">Size</th>
                <th scope="col"><span class="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              <For each={shown()}>
                {(c) => (
                  <tr>
                    <td>
                      <A href={`/documents/${c.id}`}><strong>{c.name}</strong></A>
                      <Show when={c.description}><div class="muted docs-description">{c.description}</div></Show>
                    </td>
                    <Show when={mixed()}><td data-testid="owner">{owners.name(c.owner_id)}</td></Show>
                    <td>
                      <Show when={c.embedding_model} fallback={<span class="badge">lexical only</span>}>
                        {(m) => <span class="badge ok" title="Hybrid search: words and meaning">{m()}</span>}
                      </Show>
                    </td>
                    <td class="num">{formatNumber(c.document_count)}</td>
                    <td class="num">{formatNumber(c.chunk_count)}</td>
                    <td class="num">{formatBytes(c.bytes)}</td>
                    <td>
                      <ConfirmButton
                        label="Delete"
                        icon={() => <Trash />}
                        ariaLabel={`Delete ${c.name}`}
                        title={`Delete the collection "${c.name}"?`}
                        message={`Its ${count(c.document_count, 'document')}, their chunks and stored files are deleted for good. Chatbots using it lose their knowledge.`}
                        confirmLabel="Delete collection"
                        done={`Collection ${c.name} deleted`}
                        action={() => remove(c)}
                      />
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </ResponsiveTable>
        </Match>
      </Switch>
    </section>
  )
}
