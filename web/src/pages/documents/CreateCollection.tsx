/**
 * The collection form, for a new collection and for changing one: name, description, an embedding model or none
 * (lexical only), chunking. A change of model or chunking re-indexes every document, and the form says so first.
 */
import { createResource, createSignal, For, Show } from 'solid-js'
import { api } from '../../api.ts'
import { Info } from '../../icons.ts'
import { useMe } from '../../me.ts'
import { toast } from '../../toast.tsx'
import { createFormErrors, describedBy, ErrorAlert, Field } from '../../ui.tsx'
import { RAG, type Collection } from './types.ts'

interface Model {
  id: string
}

/** Models whose name says they embed come first: the list mixes chat and embedding models. */
const embedFirst = (a: Model, b: Model) => Number(/embed/i.test(b.id)) - Number(/embed/i.test(a.id)) || a.id.localeCompare(b.id)

const LABELS = { name: 'Name', description: 'Description', embedding_model: 'Embedding model', chunk_tokens: 'Chunk size', chunk_overlap: 'Chunk overlap' }

export function CollectionForm(props: { collection?: Collection; onSaved: (c: Collection) => void; onCancel: () => void }) {
  const { can } = useMe()
  const editing = props.collection
  // Without the model permission a user still creates lexical collections: the list is not asked for.
  const [models] = createResource(
    () => can('llm:use'),
    () => api<{ data: Model[] }>('GET', '/api-internal/v1/llm/models').then((r) => [...r.data].sort(embedFirst), () => [] as Model[]),
  )
  const [name, setName] = createSignal(editing?.name ?? '')
  const [description, setDescription] = createSignal(editing?.description ?? '')
  const [model, setModel] = createSignal(editing?.embedding_model ?? '')
  const [chunkTokens, setChunkTokens] = createSignal(String(editing?.chunk_tokens ?? 300))
  const [chunkOverlap, setChunkOverlap] = createSignal(String(editing?.chunk_overlap ?? 50))
  const [busy, setBusy] = createSignal(false)
  const errors = createFormErrors(LABELS)
  const invalid = (k: keyof typeof LABELS) => (errors.field(k) ? 'true' : undefined)

  const reindexes = () =>
    !!editing &&
    editing.document_count > 0 &&
    ((model() || null) !== editing.embedding_model || Number(chunkTokens()) !== editing.chunk_tokens || Number(chunkOverlap()) !== editing.chunk_overlap)

  async function submit(event: SubmitEvent) {
    event.preventDefault()
    setBusy(true)
    errors.clear()
    try {
      const body = {
        name: name().trim(),
        description: description().trim(),
        embedding_model: model() || null,
        chunk_tokens: Number(chunkTokens()),
        chunk_overlap: Number(chunkOverlap()),
      }
      let saved: Collection
      if (editing) {
        // Only what changed: an unchanged chunking must not re-index.
        const patch = Object.fromEntries(Object.entries(body).filter(([k, v]) => v !== (editing as unknown as Record<string, unknown>)[k]))
        saved = Object.keys(patch).length ? await api<Collection>('PATCH', `${RAG}/collections/${editing.id}`, { body: patch }) : editing
        toast(reindexes() ? 'Collection saved; its documents are being indexed again' : 'Collection saved')
      } else {
        saved = await api<Collection>('POST', `${RAG}/collections`, { body })
        toast(`Collection ${saved.name} created`)
      }
      props.onSaved(saved)
    } catch (e) {
      errors.take(e)
    } finally {
      setBusy(false)
    }
  }

  const title = editing ? 'Edit collection' : 'New collection'
  return (
    <form class="card form-grid docs-create" aria-labelledby="collection-form-title" onSubmit={(e) => void submit(e)} novalidate>
      <h2 id="collection-form-title">{title}</h2>
      <Field label="Name" for="col-name" error={errors.field('name')}>
        <input id="col-name" required maxLength={200} value={name()} onInput={(e) => { setName(e.currentTarget.value); errors.clear('name') }}
          aria-invalid={invalid('name')} aria-describedby={describedBy('col-name', { error: errors.field('name') })} />
      </Field>
      <Field label="Description" for="col-description" error={errors.field('description')}>
        <textarea id="col-description" maxLength={2000} value={description()} onInput={(e) => setDescription(e.currentTarget.value)} aria-invalid={invalid('description')} />
      </Field>
      <Field label="Embedding model" for="col-model" hint="None keeps search lexical (keywords only); a model adds meaning-based and hybrid search." error={errors.field('embedding_model')}>
        <select id="col-model" value={model()} onChange={(e) => setModel(e.currentTarget.value)} aria-invalid={invalid('embedding_model')}
          aria-describedby={describedBy('col-model', { hint: true, error: errors.field('embedding_model') })}>
          <option value="">None (lexical only)</option>
          <Show when={editing?.embedding_model && !models.latest?.some((m) => m.id === editing.embedding_model)}>
            <option value={editing?.embedding_model ?? ''}>{editing?.embedding_model}</option>
          </Show>
          <For each={models.latest}>{(m) => <option value={m.id}>{m.id}</option>}</For>
        </select>
      </Field>
      <Field label="Chunk size (tokens)" for="col-chunk" hint="50 to 4000. Smaller chunks give more precise search results." error={errors.field('chunk_tokens')}>
        <input id="col-chunk" type="number" min="50" max="4000" required value={chunkTokens()} onInput={(e) => { setChunkTokens(e.currentTarget.value); errors.clear('chunk_tokens') }}
          aria-invalid={invalid('chunk_tokens')} aria-describedby={describedBy('col-chunk', { hint: true, error: errors.field('chunk_tokens') })} />
      </Field>
      <Field label="Chunk overlap (tokens)" for="col-overlap" hint="Less than half the chunk size." error={errors.field('chunk_overlap')}>
        <input id="col-overlap" type="number" min="0" max="1000" required value={chunkOverlap()} onInput={(e) => { setChunkOverlap(e.currentTarget.value); errors.clear('chunk_overlap') }}
          aria-invalid={invalid('chunk_overlap')} aria-describedby={describedBy('col-overlap', { hint: true, error: errors.field('chunk_overlap') })} />
      </Field>
      <Show when={reindexes()}>
        <div class="alert warning" role="status">
          <Info />
          <span class="alert-body">
            Saving re-indexes all {editing?.document_count} documents.
            {(model() || null) !== editing?.embedding_model ? ' The old vectors are dropped at once; search is lexical until the new ones are written.' : ''}
          </span>
        </div>
      </Show>
      <Show when={errors.general()}><ErrorAlert error={errors.general()} /></Show>
      <div class="form-actions">
        <button class="secondary" type="button" onClick={() => props.onCancel()}>Cancel</button>
        <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : editing ? 'Save changes' : 'Create collection'}</button>
      </div>
    </form>
  )
}

/** The list page's form. */
export function CreateCollection(props: { onCreated: (c: Collection) => void; onCancel: () => void }) {
  return <CollectionForm onSaved={props.onCreated} onCancel={props.onCancel} />
}
