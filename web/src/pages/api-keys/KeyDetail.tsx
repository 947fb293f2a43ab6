import { createResource, createSignal, For, Match, Show, Switch, type JSX } from 'solid-js'
import { A, useNavigate } from '@solidjs/router'
import { api } from '../../api.ts'
import { BackLink, ConfirmButton, ErrorAlert, formatDate, formatNumber, Loading } from '../../ui.tsx'
import { KeyForm } from './KeyForm.tsx'
import { KeyUsage } from './KeyUsage.tsx'
import { namesOf, type Lookups } from './lookups.ts'
import { SecretOnce } from './SecretOnce.tsx'
import { KEYS, SCOPES, StatusBadge, type ApiKey, type KeyInput, type KeyWithSecret } from './types.tsx'

/** A list of values, or what an empty list means for this restriction. */
function Values(props: { values: string[]; empty: string; plain?: boolean }): JSX.Element {
  return (
    <Show when={props.values.length > 0} fallback={<span class="muted">{props.empty}</span>}>
      <ul class="values">
        <For each={props.values}>{(v) => <li>{props.plain ? v : <code>{v}</code>}</li>}</For>
      </ul>
    </Show>
  )
}

const limit = (n: number | null, unit: string) => (n === null ? null : `${formatNumber(n)} ${unit}`)

/** One key: what it may do, its lifecycle actions (each destructive one confirmed) and its usage over time. */
export function KeyDetail(props: { id: string; lookups: Lookups; canWrite: boolean }) {
  const navigate = useNavigate()
  const [key, { mutate, refetch }] = createResource(() => props.id, (id) => api<ApiKey>('GET', `${KEYS}/${id}`))
  // The counters are written in batches; this endpoint flushes them first, so they match the usage chart below.
  const [counters] = createResource(
    () => (key.state === 'ready' ? key().id : undefined),
    (id) => api<{ request_count: number; last_used_at: string | null }>('GET', `${KEYS}/${id}/usage`).catch(() => null),
  )
  const [editing, setEditing] = createSignal(false)
  const [secret, setSecret] = createSignal<string | null>(null)
  const [actionError, setActionError] = createSignal<unknown>(null)

  async function save(body: KeyInput) {
    mutate(await api<ApiKey>('PATCH', `${KEYS}/${props.id}`, { body }))
    setEditing(false)
  }
  async function regenerate() {
    const { key: fresh, ...view } = await api<KeyWithSecret>('POST', `${KEYS}/${props.id}/regenerate`)
    mutate(view)
    setSecret(fresh)
  }
  async function setActive(active: boolean) {
    setActionError(null)
    mutate(await api<ApiKey>('POST', `${KEYS}/${props.id}/${active ? 'activate' : 'deactivate'}`))
  }
  async function remove() {
    await api('DELETE', `${KEYS}/${props.id}`)
    navigate('/api-keys', { replace: true })
  }

  const lastUsed = (k: ApiKey) => counters()?.last_used_at ?? k.last_used_at
  const rateLimits = (k: ApiKey) =>
    [
      limit(k.rate_limit_per_minute, 'requests / minute'),
      limit(k.rate_limit_per_hour, 'requests / hour'),
      limit(k.rate_limit_per_day, 'requests / day'),
      limit(k.rate_limit_tokens_per_minute, 'tokens / minute'),
    ].filter((x): x is string => x !== null)

  return (
    <section aria-labelledby="page-title" class="stack">
      <BackLink href="/api-keys" label="All API keys" />
      <Switch>
        <Match when={key.error}>
          <h1 id="page-title">API key</h1>
          <ErrorAlert error={key.error} retry={refetch} />
        </Match>
        <Match when={!key.latest}>
          <h1 id="page-title">API key</h1>
          <Loading label="Loading the key…" />
        </Match>
        <Match when={key.latest}>
          {(k) => (
            <>
              <div class="page-header">
                <h1 id="page-title">{k().name}</h1>
                <StatusBadge apiKey={k()} />
                <Show when={props.canWrite && !editing()}>
                  <div class="actions">
                    <button type="button" class="secondary small" onClick={() => setEditing(true)}>Edit</button>
                    <Show
                      when={k().is_active}
                      fallback={<button type="button" class="small" onClick={() => setActive(true).catch(setActionError)}>Activate</button>}
                    >
                      <ConfirmButton
                        label="Deactivate"
                        class="secondary small"
                        title={`Deactivate "${k().name}"?`}
                        message="Requests with this key are refused until you activate it again."
                        action={() => setActive(false)}
                      />
                    </Show>
                    <ConfirmButton
                      label="Regenerate"
                      class="secondary small"
                      title={`Regenerate "${k().name}"?`}
                      message="A new secret replaces the current one, which stops working at once. Anything using the key must be updated."
                      action={regenerate}
                    />
                    <ConfirmButton
                      label="Delete"
                      title={`Delete "${k().name}"?`}
                      message="The key stops working at once and cannot be restored."
                      confirmLabel="Delete key"
                      action={remove}
                    />
                  </div>
                </Show>
              </div>
              <Show when={actionError()}><ErrorAlert error={actionError()} /></Show>
              <Show when={secret()}>
                {(s) => <SecretOnce name={k().name} secret={s()} regenerated onDone={() => setSecret(null)} />}
              </Show>
              <Show
                when={editing()}
                fallback={
                  <div class="card">
                    <dl class="key-facts" data-testid="key-facts">
                      <dt>Key</dt><dd><code>{k().key_prefix}…</code></dd>
                      <dt>Scopes</dt><dd>{k().scopes.map((s) => SCOPES.find((x) => x.id === s)?.label ?? s).join(', ') || '—'}</dd>
                      <dt>Models</dt><dd><Values values={k().allowed_models} empty="All models" /></dd>
                      <dt>Endpoints</dt><dd><Values values={k().allowed_endpoints} empty="All endpoints" /></dd>
                      <dt>IP addresses</dt><dd><Values values={k().allowed_ips} empty="Any address" /></dd>
                      <dt>Web origins</dt><dd><Values values={k().allowed_origins} empty="None" /></dd>
                      <dt>Chatbots</dt><dd><Values values={namesOf(k().allowed_chatbots, props.lookups.chatbots())} empty="All of yours" plain /></dd>
                      <dt>Collections</dt><dd><Values values={namesOf(k().allowed_collections, props.lookups.collections())} empty="All of yours" plain /></dd>
                      <dt>Rate limits</dt><dd><Values values={rateLimits(k())} empty="None" plain /></dd>
                      <dt>Expires</dt><dd>{k().expires_at ? formatDate(k().expires_at) : 'Never'}</dd>
                      <dt>Created</dt><dd>{formatDate(k().created_at)}</dd>
                      <dt>Last used</dt><dd>{lastUsed(k()) ? formatDate(lastUsed(k())) : 'Never'}</dd>
                      <dt>API calls</dt>
                      <dd>
                        {formatNumber(counters()?.request_count ?? k().request_count)}{' '}
                        <span class="muted small-text">every call made with the key, to any endpoint (model requests are counted under Usage)</span>
                      </dd>
                    </dl>
                  </div>
                }
              >
                <div class="card">
                  <h2>Edit key</h2>
                  <KeyForm initial={k()} lookups={props.lookups} submitLabel="Save changes" onSubmit={save} onCancel={() => setEditing(false)} />
                </div>
              </Show>
              <KeyUsage keyId={k().id} />
            </>
          )}
        </Match>
      </Switch>
    </section>
  )
}
