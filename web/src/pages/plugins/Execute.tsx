/**
 * Runs an enabled plugin's execute(ctx) with a JSON input, as the signed-in user (`POST /api-internal/v1/plugins/
 * {name}/execute`), under the plugin's limits and audit; shows its result or the error. API callers use
 * `POST /api/v1/plugins/{name}/execute` with a key that has the plugins scope.
 */
import { createSignal, Show } from 'solid-js'
import { api } from '../../api.ts'
import { Card, ErrorAlert, Field } from '../../ui.tsx'

export function ExecutePanel(props: { name: string }) {
  const [input, setInput] = createSignal('{}')
  const [inputError, setInputError] = createSignal<string | null>(null)
  const [result, setResult] = createSignal<string | null>(null)
  const [error, setError] = createSignal<unknown>(null)
  const [busy, setBusy] = createSignal(false)
  async function run(e: Event) {
    e.preventDefault()
    setError(null)
    setResult(null)
    setInputError(null)
    let parsed: unknown
    try {
      parsed = input().trim() === '' ? null : JSON.parse(input())
    } catch {
      setInputError('The input is not JSON')
      return
    }
    setBusy(true)
    try {
      const res = await api<{ result: unknown }>('POST', `/api-internal/v1/plugins/${props.name}/execute`, { body: { input: parsed } })
      setResult(JSON.stringify(res.result, null, 2))
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <Card title="Run execute" testid="plugin-execute">
      <form class="stack" onSubmit={(e) => void run(e)}>
        <p class="muted small-text">
          Calls the plugin’s <code>execute(ctx)</code> with this input as <code>ctx.input</code>, as you, under its limits. From code:{' '}
          <code>POST /api/v1/plugins/{props.name}/execute</code> with <code>{'{"input": …}'}</code> and a key with the plugins scope.
        </p>
        <Field label="Input (JSON)" for="execute-input" error={inputError()}>
          <textarea id="execute-input" rows={4} value={input()} onInput={(e) => setInput(e.currentTarget.value)} spellcheck={false} />
        </Field>
        <div><button type="submit" class="secondary" disabled={busy()}>{busy() ? 'Running…' : 'Run'}</button></div>
        <Show when={error()}><ErrorAlert error={error()} /></Show>
        <Show when={result() !== null}>
          <pre class="plugin-execute-result" data-testid="execute-result">{result()}</pre>
        </Show>
      </form>
    </Card>
  )
}
