/** The new-collection form: name, description, an embedding model or none (lexical only), chunking. */
import { createResource, createSignal, For, Show } from 'solid-js'
import { api, ApiError } from '../../api.ts'
import { ErrorAlert, Field } from '../../ui.tsx'
import { RAG, type Collection } from './types.ts'

interface Model {
  id: string
}

/** Models whose name says they embed come first: the list mixes chat and embedding models. */
const embedFirst = (a: Model, b: Model) => Number(/embed/i.test(b.id)) - Number(/embed/i.test(a.id)) || a.id.localeCompare(b.id)

export function CreateCollection(props: { onCreated: (c: Collection) => void; onCancel: () => void }) {
  // A user without the playground permission still creates lexical collections: a failed list only hides models.
  const [models] = createResource(() =>
    api<{ data: Model[] }>('GET', '/api-internal/v1/llm/models').then((r) => [...r.data].sort(embedFirst), () => [] as Model[]),
  )
  const [name, setName] = createSignal('')
  const [description, setDescription] = createSignal('')
  const [model, setModel] = createSignal('')
  const [chunkTokens, setChunkTokens] = createSignal('300')
  const [chunkOverlap, setChunkOverlap] = createSignal('50')
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)

  const param = () => (error() instanceof ApiError ? (error() as ApiError).param : null)
  const invalid = (field: string) => param() === field || undefined

  async function submit(event: SubmitEvent) {
    event.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const created = await api<Collection>('POST', `${RAG}/collections`, {
        body: {
          name: name().trim(),
          description: description().trim(),
          embedding_model: model() || null,
          chunk_tokens: Number(chunkTokens()),
          chunk_overlap: Number(chunkOverlap()),
        },
      })
      props.onCreated(created)
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form class="card stack docs-create" aria-labelledby="create-title" onSubmit={(e) => void submit(e)}>
      <h2 id="create-title">New collection</h2>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <div class="row">
        <Field label="Name" for="col-name">
          <input id="col-name" required maxLength={200} value={name()} onInput={(e) => setName(e.currentTarget.value)} aria-invalid={invalid('name')} />
        </Field>
        <Field label="Embedding model" for="col-model" hint="None keeps search lexical (keywords only); a model adds meaning-based and hybrid search.">
          <select id="col-model" value={model()} onChange={(e) => setModel(e.currentTarget.value)} aria-invalid={invalid('embedding_model')} aria-describedby="col-model-hint">
            <option value="">None (lexical only)</option>
            <For each={models()}>{(m) => <option value={m.id}>{m.id}</option>}</For>
          </select>
        </Field>
      </div>
      <Field label="Description" for="col-description">
        <textarea id="col-description" maxLength={2000} value={description()} onInput={(e) => setDescription(e.currentTarget.value)} />
      </Field>
      <div class="row">
        <Field label="Chunk size (tokens)" for="col-chunk" hint="50 to 4000. Smaller chunks give more precise search results.">
          <input id="col-chunk" type="number" min="50" max="4000" required value={chunkTokens()} onInput={(e) => setChunkTokens(e.currentTarget.value)} aria-invalid={invalid('chunk_tokens')} aria-describedby="col-chunk-hint" />
        </Field>
        <Field label="Chunk overlap (tokens)" for="col-overlap" hint="Less than half the chunk size.">
          <input id="col-overlap" type="number" min="0" max="1000" required value={chunkOverlap()} onInput={(e) => setChunkOverlap(e.currentTarget.value)} aria-invalid={invalid('chunk_overlap')} aria-describedby="col-overlap-hint" />
        </Field>
      </div>
      <div class="actions">
        <button class="secondary" type="button" onClick={() => props.onCancel()}>Cancel</button>
        <button type="submit" disabled={busy()}>{busy() ? 'Creating…' : 'Create collection'}</button>
      </div>
    </form>
  )
}
