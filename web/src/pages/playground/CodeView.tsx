import { createSignal, Show } from 'solid-js'
import { CopyButton } from '../../ui.tsx'
import { curlCommand, openaiCode, type Endpoint } from './code.ts'

/** "Show as code": the request the playground would send, as curl and as openai client code, each copyable. */
export function CodeView(props: { endpoint: Endpoint; body: () => Record<string, unknown> | null }) {
  const [open, setOpen] = createSignal(false)
  const id = `code-${props.endpoint}`
  return (
    <div class="code-view">
      <button type="button" class="secondary small" aria-expanded={open()} aria-controls={id} onClick={() => setOpen(!open())}>
        {open() ? 'Hide code' : 'Show as code'}
      </button>
      <Show when={open()}>
        <div id={id} class="stack code-panels">
          <Show when={props.body()} fallback={<p class="muted">Choose a model and write something first; the code follows what you enter.</p>}>
            {(body) => (
              <>
                <section aria-labelledby={`${id}-curl`}>
                  <div class="code-head">
                    <h3 id={`${id}-curl`}>curl</h3>
                    <CopyButton text={curlCommand(props.endpoint, body())} label="Copy curl command" />
                  </div>
                  <pre aria-labelledby={`${id}-curl`}><code>{curlCommand(props.endpoint, body())}</code></pre>
                </section>
                <section aria-labelledby={`${id}-node`}>
                  <div class="code-head">
                    <h3 id={`${id}-node`}>Node.js (openai)</h3>
                    <CopyButton text={openaiCode(props.endpoint, body())} label="Copy openai code" />
                  </div>
                  <pre aria-labelledby={`${id}-node`}><code>{openaiCode(props.endpoint, body())}</code></pre>
                </section>
                <p class="hint">Uses the public API with an API key from the environment; your dashboard session is never part of it.</p>
              </>
            )}
          </Show>
        </div>
      </Show>
    </div>
  )
}
