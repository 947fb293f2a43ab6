/**
 * The embed snippet for the chat widget (src/chatbots/widget.ts): one script tag naming the chatbot and a
 * publishable key. Such a key sits in public HTML, so the server only accepts one narrowed to this chatbot, the
 * `chatbots` scope and the embedding pages' origins; this view creates exactly that.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../../api.ts'
import { CopyButton, ErrorAlert, Field, Loading } from '../../ui.tsx'
import { FieldError } from './FieldError.tsx'
import type { Chatbot } from './types.ts'

const KEY_PLACEHOLDER = 'YOUR_PUBLISHABLE_KEY'
const ORIGIN = /^https?:\/\/[^/\s]+$/

interface Key {
  id: string
  name: string
  key_prefix: string
  scopes: string[]
  allowed_chatbots: string[]
  allowed_origins: string[]
  is_active: boolean
}

/** Text for an HTML attribute value: the chatbot's name may hold quotes or angle brackets. */
const attr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** The script tag; `data-title` puts the chatbot's name in the widget's header and button (else they say "Chat"). */
export const snippet = (origin: string, chatbotId: string, key: string, title: string) =>
  `<script src="${origin}/widget.js" data-chatbot="${chatbotId}" data-key="${key}" data-title="${attr(title)}" async></script>`

/** One origin per line or comma; `https://shop.example.com/` is accepted as `https://shop.example.com`. */
function parseOrigins(text: string): { origins: string[]; invalid: string[] } {
  const items = text.split(/[\s,]+/).map((s) => s.trim().replace(/\/+$/, '')).filter(Boolean)
  return { origins: [...new Set(items.filter((o) => ORIGIN.test(o)))], invalid: items.filter((o) => !ORIGIN.test(o)) }
}

export function WidgetView(props: { bot: Chatbot }) {
  const [created, setCreated] = createSignal<string | null>(null)
  const [keys, { refetch }] = createResource(() =>
    api<{ data: Key[] }>('GET', '/api-internal/v1/api-keys?limit=200').then((r) =>
      r.data.filter((k) => k.allowed_chatbots.includes(props.bot.id) && k.allowed_origins.length > 0 && k.scopes.includes('chatbots')),
    ),
  )
  const code = () => snippet(window.location.origin, props.bot.id, created() ?? KEY_PLACEHOLDER, props.bot.name)

  return (
    <div class="stack widget-view">
      <section class="card" aria-labelledby="snippet-title">
        <h2 id="snippet-title">Embed on your site</h2>
        <p>Paste this line before <code>&lt;/body&gt;</code> on each page that should show the chat bubble.</p>
        <pre class="snippet-code" aria-label="Widget snippet" tabIndex={0}>{code()}</pre>
        <div class="actions">
          <CopyButton text={code()} label="Copy snippet" />
        </div>
        <Show when={!created()}>
          <p class="hint">Replace {KEY_PLACEHOLDER} with a publishable key for this chatbot; create one below.</p>
        </Show>
        <Show when={!props.bot.is_active}>
          <p class="hint unsaved">This chatbot is inactive: the widget will show an error until you activate it.</p>
        </Show>
      </section>
      <CreateKey bot={props.bot} onCreated={(k) => { setCreated(k); void refetch() }} created={created()} />
      <section class="card" aria-labelledby="widget-keys-title">
        <h2 id="widget-keys-title">Widget keys for this chatbot</h2>
        <Switch>
          <Match when={keys.error}><ErrorAlert error={keys.error} retry={() => void refetch()} /></Match>
          <Match when={keys.loading && !keys.latest}><Loading /></Match>
          <Match when={keys.latest?.length === 0}><p class="muted">None yet.</p></Match>
          <Match when={keys.latest}>
            {(list) => (
              <ul class="key-list">
                <For each={list()}>
                  {(k) => (
                    <li>
                      <strong>{k.name}</strong> <code>{k.key_prefix}…</code>{' '}
                      {k.is_active ? <span class="badge ok">active</span> : <span class="badge warn">inactive</span>}
                      <div class="muted">Origins: {k.allowed_origins.join(', ')}</div>
                    </li>
                  )}
                </For>
              </ul>
            )}
          </Match>
        </Switch>
        <p class="hint">Secrets are shown only when a key is created. Revoke or change keys under <A href="/api-keys">API keys</A>.</p>
      </section>
    </div>
  )
}

function CreateKey(props: { bot: Chatbot; created: string | null; onCreated: (key: string) => void }) {
  const [name, setName] = createSignal(`Widget: ${props.bot.name}`.slice(0, 100))
  const [origins, setOrigins] = createSignal('')
  const [originError, setOriginError] = createSignal<string | undefined>()
  const [error, setError] = createSignal<unknown>(null)
  const [busy, setBusy] = createSignal(false)

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    setError(null)
    const { origins: list, invalid } = parseOrigins(origins())
    if (invalid.length) return setOriginError(`Not an origin: ${invalid.join(', ')}. Use scheme and host only, e.g. https://shop.example.com`)
    if (!list.length) return setOriginError('Name at least one origin the widget runs on, e.g. https://shop.example.com')
    setOriginError(undefined)
    setBusy(true)
    try {
      const key = await api<{ key: string }>('POST', '/api-internal/v1/api-keys', {
        body: { name: name().trim(), scopes: ['chatbots'], allowed_chatbots: [props.bot.id], allowed_origins: list },
      })
      props.onCreated(key.key)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form class="card" aria-labelledby="widget-key-title" onSubmit={(e) => void submit(e)} novalidate>
      <h2 id="widget-key-title">Create a publishable key</h2>
      <p class="muted">
        The key can only chat with this chatbot, and only from the origins you list. Visitors see it in your page's HTML, so
        it gets nothing else.
      </p>
      <Show when={props.created}>
        {(k) => (
          <div class="alert created" role="status">
            Key created and put into the snippet above. Copy it now: it is not shown again.
            <div class="secret">{k()}</div>
          </div>
        )}
      </Show>
      <div class="row">
        <Field label="Key name" for="widget-key-name">
          <input id="widget-key-name" required maxLength={100} value={name()} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field label="Allowed origins" for="widget-origins" hint="One per line, e.g. https://shop.example.com">
          <textarea
            id="widget-origins"
            rows={2}
            value={origins()}
            onInput={(e) => setOrigins(e.currentTarget.value)}
            aria-invalid={originError() ? true : undefined}
            aria-describedby={`widget-origins-hint${originError() ? ' widget-origins-error' : ''}`}
          />
          <FieldError id="widget-origins" error={originError()} />
        </Field>
      </div>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <div class="actions">
        <button type="submit" disabled={busy() || !name().trim()}>{busy() ? 'Creating…' : 'Create widget key'}</button>
      </div>
    </form>
  )
}
