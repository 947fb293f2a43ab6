/** The embeddings tab: text in, the vector's size, its first values and the tokens it cost. */
import { createSignal, For, Show } from 'solid-js'
import { authorizedFetch } from '../../api.ts'
import { ErrorAlert, Field, formatNumber } from '../../ui.tsx'
import { CodeView } from './CodeView.tsx'
import { costLabel, type PlaygroundModel, type Usage } from './models.ts'

const SHOWN_VALUES = 8

interface Result {
  model: PlaygroundModel
  dimensions: number
  first: number[]
  usage: Usage | null
  confidential: boolean | null
}

export function Embeddings(props: { model: () => PlaygroundModel | undefined }) {
  const [text, setText] = createSignal('')
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)
  const [inputError, setInputError] = createSignal<string | null>(null)
  const [result, setResult] = createSignal<Result | null>(null)

  const body = (): Record<string, unknown> | null => {
    const model = props.model()
    return model && text().trim() ? { model: model.id, input: text() } : null
  }

  async function run(e: Event) {
    e.preventDefault()
    const model = props.model()
    const request = body()
    setInputError(request ? null : 'Enter some text to embed.')
    if (!model || !request) return
    setBusy(true)
    setError(null)
    try {
      const res = await authorizedFetch('/api-internal/v1/llm/embeddings', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...request, encoding_format: 'float' }),
      })
      const header = res.headers.get('x-enclava-confidential')
      const parsed = (await res.json()) as { data?: { embedding?: unknown }[]; usage?: Usage }
      const vector = parsed.data?.[0]?.embedding
      if (!Array.isArray(vector)) throw new Error('no vector')
      setResult({
        model,
        dimensions: vector.length,
        first: (vector as number[]).slice(0, SHOWN_VALUES),
        usage: parsed.usage ?? null,
        confidential: header === null ? null : header === 'true',
      })
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div class="stack">
      <form class="stack" onSubmit={(e) => void run(e)} aria-label="Create an embedding">
        <Field label="Text to embed" for="embed-input">
          <textarea
            id="embed-input"
            rows={4}
            value={text()}
            onInput={(e) => setText(e.currentTarget.value)}
            aria-invalid={inputError() ? 'true' : undefined}
            aria-describedby={inputError() ? 'embed-input-error' : undefined}
          />
          <Show when={inputError()}><p class="field-error" id="embed-input-error">{inputError()}</p></Show>
        </Field>
        <Show when={error()}><ErrorAlert error={error()} /></Show>
        <div class="actions">
          <button type="submit" disabled={busy() || !props.model()}>{busy() ? 'Embedding…' : 'Embed'}</button>
        </div>
      </form>
      <Show when={result()}>
        {(r) => (
          <section class="card" aria-labelledby="embed-result-title">
            <h2 id="embed-result-title">Embedding</h2>
            <dl>
              <dt>Dimensions</dt>
              <dd>{formatNumber(r().dimensions)}</dd>
              <dt>First values</dt>
              <dd>
                <code class="vector">
                  [<For each={r().first}>{(v, i) => <>{i() ? ', ' : ''}{v.toFixed(6)}</>}</For>
                  {r().dimensions > r().first.length ? ', …' : ''}]
                </code>
              </dd>
              <dt>Tokens</dt>
              <dd>{r().usage ? formatNumber(r().usage?.prompt_tokens ?? 0) : 'Not reported'}</dd>
              <Show when={r().usage && costLabel(r().model, r().usage as Usage)}>
                {(cost) => (
                  <>
                    <dt>Cost</dt>
                    <dd>{cost()}</dd>
                  </>
                )}
              </Show>
              <dt>Confidential</dt>
              <dd>
                <Show when={r().confidential !== null} fallback="Unknown">
                  <Show when={r().confidential} fallback={<span class="badge warn">No: not run in a TEE</span>}>
                    <span class="badge ok">Yes: ran in a TEE</span>
                  </Show>
                </Show>
              </dd>
            </dl>
          </section>
        )}
      </Show>
      <CodeView endpoint="embeddings" body={body} />
    </div>
  )
}
