/**
 * How to use the prompt from code: the official `openai` client's Responses API against this Enclava's public
 * base URL, naming the prompt by id with a value for each variable. Copyable; the API key comes from the
 * environment, never from the dashboard's session.
 */
import { createResource, createSignal, Show } from 'solid-js'
import { api } from '../../api.ts'
import { CopyButton } from '../../ui.tsx'
import { ModelSelect } from '../chatbots/ModelSelect.tsx'
import type { Model } from '../chatbots/types.ts'
import { publicBaseUrl } from '../playground/code.ts'
import type { Prompt } from './types.ts'

/** The code for `prompt`; `pin` names its current version instead of following the latest. */
export function usageCode(prompt: Prompt, model: string, pin: boolean): string {
  const variables = Object.fromEntries(prompt.variables.map((v) => [v.name, v.default || `<${v.name}>`]))
  const request = {
    model: model || '<model>',
    prompt: { id: prompt.id, ...(pin ? { version: String(prompt.version) } : {}), ...(prompt.variables.length ? { variables } : {}) },
    input: 'Your input here',
  }
  return [
    "import OpenAI from 'openai'",
    '',
    'const client = new OpenAI({',
    `  baseURL: '${publicBaseUrl()}',`,
    '  // Create a key under "API keys"; keep it out of the code.',
    '  apiKey: process.env.ENCLAVA_API_KEY,',
    '})',
    '',
    `const response = await client.responses.create(${JSON.stringify(request, null, 2)})`,
    'console.log(response.output_text)',
  ].join('\n')
}

export function Usage(props: { prompt: Prompt }) {
  const [models] = createResource(() => api<{ data: Model[] }>('GET', '/api-internal/v1/llm/models').then((r) => r.data))
  const [model, setModel] = createSignal('')
  const [pin, setPin] = createSignal(false)
  const code = () => usageCode(props.prompt, model(), pin())
  return (
    <section class="card usage" aria-labelledby="usage-title">
      <div class="code-head">
        <h2 id="usage-title">Use it from code</h2>
        <CopyButton text={code()} label="Copy code" />
      </div>
      <div class="row">
        <ModelSelect id="usage-model" models={models} value={model()} onChange={setModel} />
        <label class="check">
          <input type="checkbox" checked={pin()} onChange={(e) => setPin(e.currentTarget.checked)} />
          Pin version {props.prompt.version} (otherwise the latest is used)
        </label>
      </div>
      <pre aria-label="Usage example" tabIndex={0}><code>{code()}</code></pre>
      <Show when={props.prompt.variables.some((v) => !v.default)}>
        <p class="hint">Replace each &lt;placeholder&gt;: a variable without a default needs a value in every response.</p>
      </Show>
    </section>
  )
}
