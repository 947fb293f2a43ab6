/**
 * Providers and models, for administrators (providers:manage): which upstreams serve models, whether they run in a
 * TEE, their health, and the prices every request is charged at. Others see a plain "no permission" notice; the
 * page asks /auth/me first so it never provokes a refused request.
 */
import { createMemo, createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api } from '../api.ts'
import type { User } from '../session.ts'
import { ConfirmButton, Empty, ErrorAlert, formatDate, Loading, PageHeader } from '../ui.tsx'
import { ModelsTable } from './providers/ModelsTable.tsx'
import { ProviderForm } from './providers/ProviderForm.tsx'
import { CATALOG, PROVIDERS, type CatalogModel, type ProviderView, type TestResult } from './providers/types.ts'
import './Providers.css'

export default function Providers() {
  const [me] = createResource(() => api<User>('GET', '/api-internal/v1/auth/me'))
  const allowed = () => me()?.permissions?.includes('providers:manage') ?? false
  return (
    <section aria-labelledby="page-title" class="providers-page">
      <Switch>
        <Match when={me.error}>
          <PageHeader title="Providers" />
          <ErrorAlert error={me.error} />
        </Match>
        <Match when={me.loading}>
          <PageHeader title="Providers" />
          <Loading />
        </Match>
        <Match when={!allowed()}>
          <PageHeader title="Providers" />
          <Empty title="You do not have permission to manage providers">
            Providers and model prices are managed by administrators. Ask one if something needs changing; the models you
            may use are listed in the Playground.
          </Empty>
        </Match>
        <Match when={allowed()}>
          <Manage />
        </Match>
      </Switch>
    </section>
  )
}

function circuitBadge(p: ProviderView) {
  if (!p.is_active) return <span class="badge warn">inactive</span>
  if (!p.health) return <span class="badge warn">not loaded</span>
  if (p.health.circuit === 'closed') return <span class="badge ok">healthy</span>
  if (p.health.circuit === 'open') return <span class="badge bad">failing (circuit open)</span>
  return <span class="badge warn">recovering (half-open)</span>
}

function Manage() {
  const [providers, { refetch: refetchProviders }] = createResource(() => api<{ data: ProviderView[] }>('GET', PROVIDERS).then((r) => r.data))
  const [catalog, { refetch: refetchCatalog }] = createResource(() => api<{ data: CatalogModel[] }>('GET', CATALOG).then((r) => r.data))
  /** null: no form; 'new': adding; a provider: editing it. */
  const [form, setForm] = createSignal<ProviderView | 'new' | null>(null)
  const [notice, setNotice] = createSignal<string | null>(null)
  const [tests, setTests] = createSignal<Record<string, TestResult | 'running' | { failed: unknown }>>({})

  const modelCount = createMemo(() => {
    const counts = new Map<string, number>()
    for (const m of catalog() ?? []) if (m.provider && m.available) counts.set(m.provider, (counts.get(m.provider) ?? 0) + 1)
    return counts
  })
  const refreshAll = () => {
    void refetchProviders()
    void refetchCatalog()
  }

  async function testProvider(name: string) {
    setTests({ ...tests(), [name]: 'running' })
    try {
      const result = await api<TestResult>('POST', `${PROVIDERS}/${encodeURIComponent(name)}/test`)
      setTests({ ...tests(), [name]: result })
    } catch (failed) {
      setTests({ ...tests(), [name]: { failed } })
    }
    // A test updates the provider's health; show it.
    void refetchProviders()
  }

  return (
    <>
      <PageHeader title="Providers">
        <Show when={form() === null}>
          <button type="button" onClick={() => { setNotice(null); setForm('new') }}>Add provider</button>
        </Show>
      </PageHeader>
      <Show when={notice()}><p class="alert ok-note" role="status">{notice()}</p></Show>
      <Show when={form()}>
        {(f) => (
          <ProviderForm
            editing={f() === 'new' ? null : (f() as ProviderView)}
            onCancel={() => setForm(null)}
            onSaved={(p) => {
              setForm(null)
              setNotice(`Provider ${p.name} saved.`)
              refreshAll()
            }}
          />
        )}
      </Show>

      <h2 class="section-title">Providers</h2>
      <Switch>
        <Match when={providers.error}><ErrorAlert error={providers.error} retry={() => void refetchProviders()} /></Match>
        <Match when={providers.loading && !providers.latest}><Loading label="Loading providers…" /></Match>
        <Match when={providers.latest?.length === 0}>
          <Empty title="No providers yet">Add one to offer models: privatemode for confidential (TEE) inference, or any OpenAI-compatible server.</Empty>
        </Match>
        <Match when={providers.latest}>
          {(list) => (
            <div class="table-wrap">
              <table>
                <caption class="sr-only">Providers with their health and model count</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Base URL</th>
                    <th scope="col">TEE</th>
                    <th scope="col">Health</th>
                    <th scope="col">Models</th>
                    <th scope="col"><span class="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody>
                  <For each={list()}>
                    {(p) => (
                      <>
                        <tr>
                          <th scope="row">
                            {p.name}
                            <Show when={p.source === 'configuration'}>
                              <span class="hint block">from configuration</span>
                            </Show>
                          </th>
                          <td>{p.kind}</td>
                          <td class="url">{p.base_url}</td>
                          <td>
                            <Show when={p.kind === 'privatemode'} fallback={<span class="badge warn">no</span>}>
                              <span class="badge ok">TEE</span>
                              <Show when={p.health?.attestation}>
                                {(a) => (
                                  <span class="hint block">
                                    {a().status === 'verified'
                                      ? `Attested by privatemode-proxy; last verified exchange ${formatDate(a().verified_at)}`
                                      : a().status === 'failing'
                                        ? 'Attestation failing: the proxy answers nothing'
                                        : 'Attestation not yet shown by an exchange'}
                                  </span>
                                )}
                              </Show>
                            </Show>
                          </td>
                          <td>
                            {circuitBadge(p)}
                            <Show when={p.health?.last_error}>
                              <span class="hint block">Last error: {p.health?.last_error}</span>
                            </Show>
                            <Show when={p.health?.last_success_at}>
                              <span class="hint block">Last success: {formatDate(p.health?.last_success_at)}</span>
                            </Show>
                          </td>
                          <td>{catalog.latest ? (modelCount().get(p.name) ?? 0) : '…'}</td>
                          <td>
                            <div class="actions">
                              <button type="button" class="secondary small" disabled={tests()[p.name] === 'running'} onClick={() => void testProvider(p.name)} aria-label={`Test connection to ${p.name}`}>
                                {tests()[p.name] === 'running' ? 'Testing…' : 'Test connection'}
                              </button>
                              <Show when={p.source === 'database'}>
                                <button type="button" class="secondary small" onClick={() => { setNotice(null); setForm(p) }} aria-label={`Edit ${p.name}`}>Edit</button>
                                <ConfirmButton
                                  label="Delete"
                                  title={`Delete provider ${p.name}?`}
                                  message={`Its models stop being offered at once, and requests for them fail. The stored API key is deleted. This cannot be undone.`}
                                  confirmLabel="Delete provider"
                                  action={async () => {
                                    await api('DELETE', `${PROVIDERS}/${encodeURIComponent(p.name)}`)
                                    setNotice(`Provider ${p.name} deleted.`)
                                    refreshAll()
                                  }}
                                />
                              </Show>
                            </div>
                          </td>
                        </tr>
                        <Show when={tests()[p.name] && tests()[p.name] !== 'running'}>
                          <tr class="test-row">
                            <td colSpan={7}>
                              <TestOutcome name={p.name} result={tests()[p.name] as TestResult | { failed: unknown }} />
                            </td>
                          </tr>
                        </Show>
                      </>
                    )}
                  </For>
                </tbody>
              </table>
            </div>
          )}
        </Match>
      </Switch>

      <h2 class="section-title">Models and prices</h2>
      <p class="hint">Prices are US dollars per 1M tokens and are what budgets and usage are charged at. Models without custom prices use the provider's defaults.</p>
      <Switch>
        <Match when={catalog.error}><ErrorAlert error={catalog.error} retry={() => void refetchCatalog()} /></Match>
        <Match when={catalog.loading && !catalog.latest}><Loading label="Loading models…" /></Match>
        <Match when={catalog.latest?.length === 0}>
          <Empty title="No models">None of the providers lists a model yet. Test a provider's connection to see what it offers.</Empty>
        </Match>
        <Match when={catalog.latest}>{(list) => <ModelsTable models={list()} onChanged={() => void refetchCatalog()} />}</Match>
      </Switch>
    </>
  )
}

function TestOutcome(props: { name: string; result: TestResult | { failed: unknown } }) {
  return (
    <div role="status" class="test-outcome">
      <Show when={'failed' in props.result ? props.result : null} fallback={<Result name={props.name} result={props.result as TestResult} />}>
        {(f) => <ErrorAlert error={f().failed} />}
      </Show>
    </div>
  )
}

function Result(props: { name: string; result: TestResult }) {
  return (
    <Show
      when={props.result.ok}
      fallback={<p class="test-bad"><span class="badge bad">failed</span> {props.name}: {props.result.error ?? 'the connection failed'}</p>}
    >
      <p class="test-good">
        <span class="badge ok">connected</span> {props.name} answered
        <Show when={props.result.latency_ms !== null}> in {props.result.latency_ms} ms</Show> and lists{' '}
        {props.result.models.length === 1 ? '1 model' : `${props.result.models.length} models`}
        <Show when={props.result.models.length}>: {props.result.models.join(', ')}</Show>.
      </p>
    </Show>
  )
}
