/**
 * Register or change an MCP server. Header values are write-only: a stored header shows only its name, an empty
 * value keeps it, and nothing the server returns ever contains a value.
 */
import { createSignal, Index, Show } from 'solid-js'
import { api, ApiError } from '../../api.ts'
import { ErrorAlert, Field } from '../../ui.tsx'
import { NAME, SERVERS, type McpServer, type Transport } from './types.ts'

interface HeaderRow {
  name: string
  value: string
  /** Stored already: its name is fixed, its value unknown here. */
  stored: boolean
  remove: boolean
}

type Errors = Partial<Record<'name' | 'url' | 'headers', string>>

export function ServerForm(props: { editing: McpServer | null; canShare: boolean; onSaved: (s: McpServer) => void; onCancel: () => void }) {
  const editing = props.editing
  const [name, setName] = createSignal(editing?.name ?? '')
  const [url, setUrl] = createSignal(editing?.url ?? '')
  const [transport, setTransport] = createSignal<Transport>(editing?.transport ?? 'auto')
  const [shared, setShared] = createSignal(editing?.shared ?? false)
  const [headers, setHeaders] = createSignal<HeaderRow[]>((editing?.header_names ?? []).map((n) => ({ name: n, value: '', stored: true, remove: false })))
  const [errors, setErrors] = createSignal<Errors>({})
  const [error, setError] = createSignal<unknown>(null)
  const [busy, setBusy] = createSignal(false)

  const update = (i: number, patch: Partial<HeaderRow>) => setHeaders(headers().map((h, j) => (j === i ? { ...h, ...patch } : h)))

  function validate(): Errors {
    const e: Errors = {}
    if (!NAME.test(name())) e.name = 'Use 1 to 32 letters, digits, "-" or "_", starting with a letter or digit.'
    if (!/^https?:\/\/\S+$/.test(url().trim())) e.url = 'Enter the server’s MCP URL, starting with http:// or https://.'
    const fresh = headers().filter((h) => !h.stored && (h.name || h.value))
    if (fresh.some((h) => !h.name.trim() || !h.value)) e.headers = 'A new header needs both a name and a value.'
    return e
  }

  async function submit(ev: SubmitEvent) {
    ev.preventDefault()
    const e = validate()
    setErrors(e)
    setError(null)
    if (Object.keys(e).length) return
    const changed: Record<string, string | null> = {}
    for (const h of headers()) {
      if (h.stored && h.remove) changed[h.name] = null
      else if (h.value) changed[h.name.trim()] = h.value
    }
    setBusy(true)
    try {
      let saved: McpServer
      if (editing) {
        const body: Record<string, unknown> = {}
        if (name() !== editing.name) body.name = name()
        if (url().trim() !== editing.url) body.url = url().trim()
        if (transport() !== editing.transport) body.transport = transport()
        if (shared() !== editing.shared) body.shared = shared()
        if (Object.keys(changed).length) body.headers = changed
        saved = Object.keys(body).length ? await api<McpServer>('PATCH', `${SERVERS}/${editing.id}`, { body }) : editing
      } else {
        const body: Record<string, unknown> = { name: name(), url: url().trim(), transport: transport() }
        if (Object.keys(changed).length) body.headers = changed
        if (shared()) body.shared = true
        saved = await api<McpServer>('POST', SERVERS, { body })
      }
      // Header values leave the page's memory as soon as they are stored.
      setHeaders([])
      props.onSaved(saved)
    } catch (err) {
      // A message about one field goes next to that field; anything else above the buttons.
      if (err instanceof ApiError && (err.param === 'name' || err.param === 'url')) setErrors({ [err.param]: err.message })
      else if (err instanceof ApiError && err.param?.startsWith('headers')) setErrors({ headers: err.message })
      else setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form class="card stack mcp-form" onSubmit={(e) => void submit(e)} aria-labelledby="mcp-form-title" novalidate>
      <h2 id="mcp-form-title">{editing ? `Edit MCP server ${editing.name}` : 'Add an MCP server'}</h2>
      <div class="row">
        <Field label="Name" for="mf-name" hint="Letters, digits, - and _; the model sees its tools as name__tool.">
          <input
            id="mf-name"
            ref={(el) => queueMicrotask(() => el.focus())}
            value={name()}
            autocomplete="off"
            onInput={(e) => setName(e.currentTarget.value)}
            aria-invalid={errors().name ? 'true' : undefined}
            aria-describedby={errors().name ? 'mf-name-error mf-name-hint' : 'mf-name-hint'}
          />
          <Show when={errors().name}><p class="field-error" id="mf-name-error">{errors().name}</p></Show>
        </Field>
        <Field label="Transport" for="mf-transport" hint="Automatic tries Streamable HTTP, then the older HTTP+SSE.">
          <select id="mf-transport" value={transport()} onChange={(e) => setTransport(e.currentTarget.value as Transport)} aria-describedby="mf-transport-hint">
            <option value="auto">Automatic</option>
            <option value="streamable_http">Streamable HTTP</option>
            <option value="sse">HTTP+SSE (older servers)</option>
          </select>
        </Field>
      </div>
      <Field
        label="URL"
        for="mf-url"
        hint={props.canShare ? 'The server’s MCP endpoint, e.g. https://mcp.example.com/mcp. Yours may be on the private network.' : 'The server’s MCP endpoint, e.g. https://mcp.example.com/mcp; it must be a public address.'}
      >
        <input
          id="mf-url"
          type="url"
          inputmode="url"
          value={url()}
          autocomplete="off"
          onInput={(e) => setUrl(e.currentTarget.value)}
          aria-invalid={errors().url ? 'true' : undefined}
          aria-describedby={errors().url ? 'mf-url-error mf-url-hint' : 'mf-url-hint'}
        />
        <Show when={errors().url}><p class="field-error" id="mf-url-error">{errors().url}</p></Show>
      </Field>

      <fieldset class="mcp-headers">
        <legend>Headers</legend>
        <p class="hint">Sent with every request, e.g. Authorization. Values are stored encrypted and never shown again.</p>
        <Index each={headers()}>
          {(h, i) => (
            <div class="row header-row">
              <Show
                when={h().stored}
                fallback={
                  <Field label="Header name" for={`mf-h-name-${i}`}>
                    <input id={`mf-h-name-${i}`} value={h().name} autocomplete="off" onInput={(e) => update(i, { name: e.currentTarget.value })} />
                  </Field>
                }
              >
                <p class="stored-header"><strong>{h().name}</strong> <span class="badge ok">stored</span></p>
              </Show>
              <Field label={h().stored ? `New value for ${h().name}` : 'Value'} for={`mf-h-value-${i}`}>
                <input
                  id={`mf-h-value-${i}`}
                  type="password"
                  autocomplete="new-password"
                  value={h().value}
                  disabled={h().remove}
                  placeholder={h().stored ? 'Leave empty to keep it' : ''}
                  onInput={(e) => update(i, { value: e.currentTarget.value })}
                />
              </Field>
              <Show
                when={h().stored}
                fallback={<button type="button" class="secondary small" onClick={() => setHeaders(headers().filter((_, j) => j !== i))}>Remove</button>}
              >
                <label class="check">
                  <input type="checkbox" checked={h().remove} onChange={(e) => update(i, { remove: e.currentTarget.checked, value: '' })} />
                  Remove {h().name}
                </label>
              </Show>
            </div>
          )}
        </Index>
        <Show when={errors().headers}><p class="field-error" role="alert">{errors().headers}</p></Show>
        <button type="button" class="secondary small" onClick={() => setHeaders([...headers(), { name: '', value: '', stored: false, remove: false }])}>
          Add a header
        </button>
      </fieldset>

      <Show when={props.canShare}>
        <label class="check">
          <input type="checkbox" checked={shared()} onChange={(e) => setShared(e.currentTarget.checked)} />
          Shared: every user may see it and give its tools to their agents
        </label>
      </Show>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <div class="actions">
        <button type="button" class="secondary" onClick={() => props.onCancel()}>Cancel</button>
        <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : editing ? 'Save changes' : 'Add server'}</button>
      </div>
    </form>
  )
}
