/** Try a query against the collection: the mode, how many results, and each result's scores from every ranker. */
import { createEffect, createSignal, For, Index, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../../api.ts'
import { Search } from '../../icons.ts'
import { createFormErrors, describedBy, ErrorAlert, Field } from '../../ui.tsx'
import { RAG, count, type Collection, type Doc, type SearchMode, type SearchResponse, type SearchResult } from './types.ts'

const LABELS = {
  query: 'Query',
  top_k: 'Results',
  score_threshold: 'Score threshold',
  document_ids: 'Only these documents',
  metadata: 'Metadata filter',
  weights: 'Ranker weights',
  rrf_k: 'Fusion constant (rrf_k)',
  group_by: 'Results are',
}

/** `key=value` lines into the API's metadata filter: numbers and true/false as such, everything else as text. */
export function parseMetadata(text: string): { filter: Record<string, string | number | boolean>; bad: string[] } {
  const filter: Record<string, string | number | boolean> = {}
  const bad: string[] = []
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf('=')
    if (at <= 0) {
      bad.push(line)
      continue
    }
    const key = line.slice(0, at).trim()
    const raw = line.slice(at + 1).trim()
    filter[key] = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw
  }
  return { filter, bad }
}

const score = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toPrecision(3))

/** The snippet with the query's words marked (a word matches when it starts with a query word). */
function Highlighted(props: { text: string; query: string }) {
  const words = () => props.query.toLowerCase().match(/[\p{L}\p{N}]{2,}/gu) ?? []
  const parts = () => props.text.split(/([\p{L}\p{N}]+)/u)
  return (
    <Index each={parts()}>
      {(part) => <Show when={words().some((w) => part().toLowerCase().startsWith(w))} fallback={part()}><mark>{part()}</mark></Show>}
    </Index>
  )
}

function Scores(props: { result: SearchResult }) {
  const s = () => props.result.scores
  return (
    <ul class="scores" aria-label="Scores">
      <li><strong>score {score(props.result.score)}</strong></li>
      <Show when={s().lexical !== null}><li>lexical {score(s().lexical ?? 0)} (rank {s().lexical_rank})</li></Show>
      <Show when={s().vector !== null}><li>vector {score(s().vector ?? 0)} (rank {s().vector_rank})</li></Show>
      <Show when={s().fused !== null}><li>fused {score(s().fused ?? 0)}</li></Show>
    </ul>
  )
}

export function SearchTester(props: { collection: Collection; docs: readonly Doc[]; detailsHref: (documentId: string) => string }) {
  const modes = (): SearchMode[] => (props.collection.embedding_model ? ['hybrid', 'lexical', 'vector'] : ['lexical'])
  const [query, setQuery] = createSignal('')
  const [mode, setMode] = createSignal<SearchMode>(modes()[0] ?? 'lexical')
  const [topK, setTopK] = createSignal('5')
  const [groupBy, setGroupBy] = createSignal<'chunk' | 'document'>('chunk')
  const [threshold, setThreshold] = createSignal('')
  const [documentIds, setDocumentIds] = createSignal<string[]>([])
  const [metadata, setMetadata] = createSignal('')
  const [lexicalWeight, setLexicalWeight] = createSignal('1')
  const [vectorWeight, setVectorWeight] = createSignal('1')
  const [rrfK, setRrfK] = createSignal('')
  const [busy, setBusy] = createSignal(false)
  const errors = createFormErrors(LABELS)
  const [answer, setAnswer] = createSignal<{ query: string; response: SearchResponse } | null>(null)

  /** The request: only the options that differ from the API's defaults are sent. */
  function body(q: string): Record<string, unknown> | null {
    const b: Record<string, unknown> = { query: q, mode: mode(), top_k: Number(topK()), group_by: groupBy() }
    const found: Partial<Record<keyof typeof LABELS, string>> = {}
    if (threshold().trim()) {
      const t = Number(threshold())
      if (Number.isFinite(t)) b.score_threshold = t
      else found.score_threshold = 'The score threshold must be a number, or empty for none.'
    }
    if (documentIds().length) b.document_ids = documentIds()
    const meta = parseMetadata(metadata())
    if (meta.bad.length) found.metadata = `Write one key=value per line (not: ${meta.bad.join(', ')}).`
    else if (Object.keys(meta.filter).length) b.metadata = meta.filter
    if (mode() === 'hybrid') {
      const lw = Number(lexicalWeight())
      const vw = Number(vectorWeight())
      if (!(lw >= 0 && lw <= 10 && vw >= 0 && vw <= 10)) found.weights = 'Each weight is a number from 0 to 10.'
      else if (lw !== 1 || vw !== 1) b.weights = { lexical: lw, vector: vw }
      if (rrfK().trim()) b.rrf_k = Number(rrfK())
    }
    errors.set(found)
    return Object.keys(found).length ? null : b
  }

  async function submit(event: SubmitEvent) {
    event.preventDefault()
    const q = query().trim()
    if (!q) return
    const request = body(q)
    if (!request) return
    setBusy(true)
    try {
      const response = await api<SearchResponse>('POST', `${RAG}/collections/${props.collection.id}/search`, { body: request })
      setAnswer({ query: q, response })
    } catch (e) {
      errors.take(e)
    } finally {
      setBusy(false)
    }
  }

  return (
    <section class="card stack" aria-labelledby="search-title">
      <h2 id="search-title">Search tester</h2>
      <form class="stack" onSubmit={(e) => void submit(e)} aria-labelledby="search-title">
        <Field label="Query" for="search-query">
          <input id="search-query" type="search" required maxLength={4000} value={query()} onInput={(e) => setQuery(e.currentTarget.value)} />
        </Field>
        <div class="row">
          <Field label="Mode" for="search-mode">
            <select id="search-mode" value={mode()} onChange={(e) => setMode(e.currentTarget.value as SearchMode)} aria-describedby="search-mode-hint">
              <For each={modes()}>{(m) => <option value={m}>{m}</option>}</For>
            </select>
          </Field>
          <Field label="Results (top k)" for="search-topk">
            <input id="search-topk" type="number" min="1" max="100" required value={topK()} onInput={(e) => setTopK(e.currentTarget.value)} />
          </Field>
          <Field label="Results are" for="search-group">
            <select id="search-group" value={groupBy()} onChange={(e) => setGroupBy(e.currentTarget.value as 'chunk' | 'document')}>
              <option value="chunk">Chunks (several per document)</option>
              <option value="document">Documents (each once)</option>
            </select>
          </Field>
        </div>
        <p class="hint" id="search-mode-hint">
          {props.collection.embedding_model
            ? 'Hybrid fuses the keyword (BM25) and meaning (vector) rankings; each result shows every ranker’s score and rank.'
            : 'This collection has no embedding model, so search is by keywords (BM25) only.'}
        </p>
        <details class="search-options" ref={(el) => createEffect(() => errors.any() && (el.open = true))}>
          <summary>More options: threshold, documents, metadata{props.collection.embedding_model ? ', fusion' : ''}</summary>
          <div class="form-grid">
            <Field label="Score threshold" for="search-threshold" error={errors.field('score_threshold')}
              hint="Drops results under this score, in the mode's own scale: BM25 (lexical), cosine similarity (vector), fused 0–1 (hybrid). Empty: none.">
              <input id="search-threshold" type="number" step="any" inputmode="decimal" value={threshold()} onInput={(e) => setThreshold(e.currentTarget.value)}
                aria-invalid={errors.field('score_threshold') ? 'true' : undefined} aria-describedby={describedBy('search-threshold', { hint: true, error: errors.field('score_threshold') })} />
            </Field>
            <Field label="Only these documents" for="search-docs" hint="None selected: the whole collection. Ctrl or ⌘ selects several." error={errors.field('document_ids')}>
              <select id="search-docs" multiple size={Math.min(5, Math.max(2, props.docs.length))} aria-describedby={describedBy('search-docs', { hint: true, error: errors.field('document_ids') })}
                onChange={(e) => setDocumentIds([...e.currentTarget.selectedOptions].map((o) => o.value))}>
                <For each={props.docs}>{(d) => <option value={d.id} selected={documentIds().includes(d.id)}>{d.filename}</option>}</For>
              </select>
            </Field>
            <Field label="Metadata filter" for="search-metadata" hint="One key=value per line; a chunk must carry all of them (e.g. source_url=https://…)." error={errors.field('metadata')}>
              <textarea id="search-metadata" rows={2} value={metadata()} onInput={(e) => setMetadata(e.currentTarget.value)}
                aria-invalid={errors.field('metadata') ? 'true' : undefined} aria-describedby={describedBy('search-metadata', { hint: true, error: errors.field('metadata') })} />
            </Field>
            <Show when={mode() === 'hybrid'}>
              <Field label="Keyword weight" for="search-w-lexical" hint="Reciprocal rank fusion weights, 0 to 10 each (default 1 and 1)." error={errors.field('weights')}>
                <input id="search-w-lexical" type="number" min="0" max="10" step="0.1" value={lexicalWeight()} onInput={(e) => setLexicalWeight(e.currentTarget.value)}
                  aria-describedby={describedBy('search-w-lexical', { hint: true, error: errors.field('weights') })} />
              </Field>
              <Field label="Meaning weight" for="search-w-vector">
                <input id="search-w-vector" type="number" min="0" max="10" step="0.1" value={vectorWeight()} onInput={(e) => setVectorWeight(e.currentTarget.value)} />
              </Field>
              <Field label="Fusion constant (rrf_k)" for="search-rrf" hint="1 to 1000; larger flattens the ranks' influence. Empty: the default (60)." error={errors.field('rrf_k')}>
                <input id="search-rrf" type="number" min="1" max="1000" step="1" value={rrfK()} onInput={(e) => setRrfK(e.currentTarget.value)}
                  aria-describedby={describedBy('search-rrf', { hint: true, error: errors.field('rrf_k') })} />
              </Field>
            </Show>
          </div>
        </details>
        <div class="form-actions">
          <button type="submit" disabled={busy()}><Search /> {busy() ? 'Searching…' : 'Search'}</button>
        </div>
      </form>
      <Show when={errors.general()}><ErrorAlert error={errors.general()} /></Show>
      <Show when={answer()}>
        {(a) => (
          <Switch>
            <Match when={a().response.results.length === 0}>
              <p class="muted" role="status">No results for “{a().query}”.</p>
            </Match>
            <Match when={true}>
              <p class="muted" role="status">
                {count(a().response.results.length, a().response.group_by === 'document' ? 'document' : 'result')}, {a().response.mode} search, {a().response.timing.total_ms.toFixed(0)} ms
              </p>
              <ol class="search-results" aria-label="Search results">
                <For each={a().response.results}>
                  {(r) => (
                    <li>
                      <div class="result-head">
                        <A noScroll href={props.detailsHref(r.document_id)} class="result-doc">{r.document_name}</A>
                        <span class="muted">
                          chunk #{r.position + 1}
                          {r.page !== null ? ` · page ${r.page}` : ''}
                          {r.sheet !== null ? ` · sheet ${r.sheet}` : ''}
                          {r.heading ? ` · ${r.heading}` : ''}
                        </span>
                      </div>
                      <p class="snippet"><Highlighted text={r.snippet} query={a().query} /></p>
                      <Scores result={r} />
                    </li>
                  )}
                </For>
              </ol>
            </Match>
          </Switch>
        )}
      </Show>
    </section>
  )
}
