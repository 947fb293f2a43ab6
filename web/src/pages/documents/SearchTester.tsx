/** Try a query against the collection: the mode, how many results, and each result's scores from every ranker. */
import { createSignal, For, Index, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../../api.ts'
import { ErrorAlert, Field } from '../../ui.tsx'
import { RAG, count, type Collection, type SearchMode, type SearchResponse, type SearchResult } from './types.ts'

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

export function SearchTester(props: { collection: Collection; detailsHref: (documentId: string) => string }) {
  const modes = (): SearchMode[] => (props.collection.embedding_model ? ['hybrid', 'lexical', 'vector'] : ['lexical'])
  const [query, setQuery] = createSignal('')
  const [mode, setMode] = createSignal<SearchMode>(modes()[0] ?? 'lexical')
  const [topK, setTopK] = createSignal('5')
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)
  const [answer, setAnswer] = createSignal<{ query: string; response: SearchResponse } | null>(null)

  async function submit(event: SubmitEvent) {
    event.preventDefault()
    const q = query().trim()
    if (!q) return
    setBusy(true)
    setError(null)
    try {
      const response = await api<SearchResponse>('POST', `${RAG}/collections/${props.collection.id}/search`, {
        body: { query: q, mode: mode(), top_k: Number(topK()) },
      })
      setAnswer({ query: q, response })
    } catch (e) {
      setError(e)
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
          <div class="field search-submit">
            <button type="submit" disabled={busy()}>{busy() ? 'Searching…' : 'Search'}</button>
          </div>
        </div>
        <p class="hint" id="search-mode-hint">
          {props.collection.embedding_model
            ? 'Hybrid fuses the keyword (BM25) and meaning (vector) rankings; each result shows every ranker’s score and rank.'
            : 'This collection has no embedding model, so search is by keywords (BM25) only.'}
        </p>
      </form>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <Show when={answer()}>
        {(a) => (
          <Switch>
            <Match when={a().response.results.length === 0}>
              <p class="muted" role="status">No results for “{a().query}”.</p>
            </Match>
            <Match when={true}>
              <p class="muted" role="status">
                {count(a().response.results.length, 'result')}, {a().response.mode} search, {a().response.timing.total_ms.toFixed(0)} ms
              </p>
              <ol class="search-results" aria-label="Search results">
                <For each={a().response.results}>
                  {(r) => (
                    <li>
                      <div class="result-head">
                        <A href={props.detailsHref(r.document_id)} class="result-doc">{r.document_name}</A>
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
