/**
 * The chatbot's public API, for server-side callers (the widget is for web pages): its own chat endpoint
 * (`POST /api/v1/chatbot/{id}/chat`) and an OpenAI-compatible base URL (`/api/v1/chatbot/{id}/v1`) for the official
 * clients, each with an example to copy, and a key narrowed to this chatbot made in one step. The examples read the
 * key from the environment; a key created here is shown once and never put into code on screen.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../../api.ts'
import { KeyRound } from '../../icons.ts'
import { Tabs } from '../../tabs.tsx'
import { toast } from '../../toast.tsx'
import { Card, CopyButton, ErrorAlert, Loading } from '../../ui.tsx'
import type { Chatbot } from './types.ts'

interface Key {
  id: string
  name: string
  key_prefix: string
  scopes: string[]
  allowed_chatbots: string[]
  allowed_origins: string[]
  is_active: boolean
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

export const chatUrl = (origin: string, id: string) => `${origin}/api/v1/chatbot/${id}/chat`
export const baseUrl = (origin: string, id: string) => `${origin}/api/v1/chatbot/${id}/v1`

export function curlExample(origin: string, id: string): string {
  return [
    '# Create a key with the "chatbots" scope (below, or under API keys), then: export ENCLAVA_API_KEY=<your key>',
    `curl ${chatUrl(origin, id)} \\`,
    '  -H "Authorization: Bearer $ENCLAVA_API_KEY" \\',
    '  -H "Content-Type: application/json" \\',
    `  -d ${shellQuote(JSON.stringify({ message: 'Hello!' }))}`,
    '# The answer: {"response", "conversation_id", "sources", "citations"}; send conversation_id back to continue.',
  ].join('\n')
}

export function openaiExample(origin: string, id: string): string {
  return [
    "import OpenAI from 'openai'",
    '',
    '// The chatbot is the one model of its own base URL: its prompt, knowledge and settings apply.',
    'const client = new OpenAI({',
    `  baseURL: '${baseUrl(origin, id)}',`,
    '  apiKey: process.env.ENCLAVA_API_KEY,',
    '})',
    '',
    'const answer = await client.chat.completions.create({',
    `  model: '${id}',`,
    "  messages: [{ role: 'user', content: 'Hello!' }],",
    '})',
    'console.log(answer.choices[0]?.message.content)',
  ].join('\n')
}

export function pythonExample(origin: string, id: string): string {
  return [
    'import os',
    'from openai import OpenAI',
    '',
    'client = OpenAI(',
    `    base_url="${baseUrl(origin, id)}",`,
    '    api_key=os.environ["ENCLAVA_API_KEY"],',
    ')',
    'answer = client.chat.completions.create(',
    `    model="${id}",`,
    '    messages=[{"role": "user", "content": "Hello!"}],',
    ')',
    'print(answer.choices[0].message.content)',
  ].join('\n')
}

const EXAMPLES = [
  { id: 'curl', label: 'curl (chat endpoint)' },
  { id: 'node', label: 'Node.js (openai)' },
  { id: 'python', label: 'Python (openai)' },
] as const
type Example = (typeof EXAMPLES)[number]['id']

export function ApiView(props: { bot: Chatbot }) {
  const origin = window.location.origin
  const [example, setExample] = createSignal<Example>('curl')
  const code = () =>
    example() === 'curl' ? curlExample(origin, props.bot.id) : example() === 'node' ? openaiExample(origin, props.bot.id) : pythonExample(origin, props.bot.id)
  const [keys, { refetch }] = createResource(() =>
    api<{ data: Key[] }>('GET', '/api-internal/v1/api-keys?limit=200').then((r) =>
      // Server keys: the chatbots scope, this chatbot (or every one of the owner's), and no browser origins.
      r.data.filter((k) => k.scopes.includes('chatbots') && k.allowed_origins.length === 0 && (k.allowed_chatbots.length === 0 || k.allowed_chatbots.includes(props.bot.id))),
    ),
  )
  const [secret, setSecret] = createSignal<string | null>(null)
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)

  async function createKey() {
    setBusy(true)
    setError(null)
    try {
      const created = await api<{ key: string }>('POST', '/api-internal/v1/api-keys', {
        body: { name: `API: ${props.bot.name}`.slice(0, 100), scopes: ['chatbots'], allowed_chatbots: [props.bot.id] },
      })
      setSecret(created.key)
      toast('Key created: copy it now, it is shown only once')
      void refetch()
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div class="stack">
      <Card title="Endpoints" id="api-endpoints-title">
        <dl data-testid="chatbot-endpoints">
          <dt>Chat endpoint</dt>
          <dd>
            <code>POST {chatUrl(origin, props.bot.id)}</code> <CopyButton text={chatUrl(origin, props.bot.id)} label="Copy URL" iconOnly />
            <p class="hint">Body <code>{'{"message", "conversation_id"?}'}</code>; answers with the response, its sources and citations.</p>
          </dd>
          <dt>OpenAI base URL</dt>
          <dd>
            <code>{baseUrl(origin, props.bot.id)}</code> <CopyButton text={baseUrl(origin, props.bot.id)} label="Copy base URL" iconOnly />
            <p class="hint">For the official clients (<code>models</code>, <code>chat/completions</code>, streaming too). The model is the chatbot's id; the header <code>X-Enclava-Conversation-Id</code> continues a conversation.</p>
          </dd>
        </dl>
      </Card>
      <Card title="Example" id="api-example-title" actions={<CopyButton text={code()} label="Copy example" />}>
        <Tabs label="Example language" tabs={EXAMPLES} value={example()} onChange={setExample} />
        <pre role="tabpanel" id={`panel-${example()}`} aria-labelledby={`tab-${example()}`} tabIndex={0} data-testid="api-example"><code>{code()}</code></pre>
        <Show when={!props.bot.is_active}><p class="hint unsaved">This chatbot is inactive: calls are refused until you activate it.</p></Show>
      </Card>
      <Card title="Keys that can call it" id="api-keys-title" actions={<button type="button" class="secondary" disabled={busy()} onClick={() => void createKey()}><KeyRound /> {busy() ? 'Creating…' : 'Create a key for this chatbot'}</button>}>
        <Show when={error()}><ErrorAlert error={error()} /></Show>
        <Show when={secret()}>
          {(s) => (
            <div class="alert created" role="status">
              <p>Copy the key now: it is not shown again. It may only chat with this chatbot.</p>
              <div class="secret-row"><span class="secret">{s()}</span><CopyButton text={s()} label="Copy key" /></div>
            </div>
          )}
        </Show>
        <Switch>
          <Match when={keys.error}><ErrorAlert error={keys.error} retry={() => void refetch()} /></Match>
          <Match when={keys.latest?.length === 0}><p class="muted">None of your keys may use this chatbot yet.</p></Match>
          <Match when={keys.latest}>
            {(list) => (
              <ul class="key-list">
                <For each={list()}>
                  {(k) => (
                    <li>
                      <A href={`/api-keys/${k.id}`}>{k.name}</A> <code>{k.key_prefix}…</code>{' '}
                      {k.is_active ? <span class="badge ok">active</span> : <span class="badge warn">inactive</span>}{' '}
                      <span class="muted small-text">{k.allowed_chatbots.length ? 'this chatbot only' : 'all of your chatbots'}</span>
                    </li>
                  )}
                </For>
              </ul>
            )}
          </Match>
          <Match when={true}><Loading lines={2} /></Match>
        </Switch>
      </Card>
    </div>
  )
}
