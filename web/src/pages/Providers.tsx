/**
 * Providers and models, for administrators (providers:manage): which upstreams serve models, whether they run in a
 * TEE, their health, and the prices every request is charged at. Others see a plain "no permission" notice; the
 * page asks /auth/me first so it never provokes a refused request.
 */
import { createMemo, createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api } from '../api.ts'
import { Pencil, Plug, Plus, RefreshCw, Server, Trash } from '../icons.ts'
import { toast } from '../toast.tsx'
import { ConfirmButton, Empty, ErrorAlert, formatDate, Gate, Loading, PageHeader } from '../ui.tsx'
import { ModelsTable } from './providers/ModelsTable.tsx'
import { ProviderForm } from './providers/ProviderForm.tsx'
import { CATALOG, PROVIDERS, type CatalogModel, type ProviderView, type TestResult } from './providers/types.ts'
import './Providers.css'
import { ResponsiveTable } from '../table.tsx'

export default function Providers() {
  return (
    <section aria-labelledby="page-title" class="providers-page">
      <Gate title="Providers" permission="providers:manage" what="manage providers">
        <Manage />
      </Gate>
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
  const setNotice = (text: string | null) => text && toast(text)
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
      <PageHeader title="Providers" description="The upstreams that serve models: privatemode for confidential inference in a TEE, or any OpenAI-compatible server.">
        <button type="button" class="secondary" onClick={refreshAll} aria-label="Refresh providers and models"><RefreshCw /></button>
        <Show when={form() === null}>
          <button type="button" onClick={() => setForm('new')}><Plus /> Add provider</button>
        </Show>
      </PageHeader>
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
          <Empty title="No providers yet" icon={() => <Server />}>Add one to offer models: privatemode for confidential (TEE) inference, or any OpenAI-compatible server.</Empty>
        </Match>
        <Match when={providers.latest}>
          {(list) => (
            <ResponsiveTable>
                <caption class="sr-only">Providers with their health and model count</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Base URL</th>
                    <th scope="col">TEE</th>
                    <th scope="col">Health</th>
                    <th scope="col" class="num">Models</th>
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
                            <span class="hint block">{p.kind}{p.source === 'configuration' ? ', from configuration' : ''}</span>
                          </th>
                          <td class="url"><code>{p.base_url}</code></td>
                          <td>
                            <Show when={p.kind === 'privatemode'} fallback={<span class="badge warn">no</span>}>
                              <span
                                class="badge ok"
                                title={
                                  p.health?.attestation?.status === 'verified'
                                    ? `Attested by privatemode-proxy; last verified exchange ${formatDate(p.health.attestation.verified_at)}`
                                    : p.health?.attestation?.status === 'failing'
                                      ? 'Attestation failing: the proxy answers nothing'
                                      : 'Attestation not yet shown by an exchange'
                                }
                              >
                                TEE
                              </span>
                              <Show when={p.health?.attestation?.status === 'verified'}><span class="hint block">attested</span></Show>
                              <Show when={p.health?.attestation?.status === 'failing'}><span class="hint block text-bad">attestation failing</span></Show>
                            </Show>
                          </td>
                          <td>
                            {circuitBadge(p)}
                            <Show when={p.health?.last_error}>
                              <span class="hint block one-line" title={p.health?.last_error ?? ''}>Last error: {p.health?.last_error}</span>
                            </Show>
                            <Show when={p.health?.last_success_at && !p.health?.last_error}>
                              <span class="hint block">OK {formatDate(p.health?.last_success_at)}</span>
                            </Show>
                          </td>
                          <td class="num">{catalog.latest ? (modelCount().get(p.name) ?? 0) : '…'}</td>
                          <td>
                            <div class="actions row-actions">
                              <button type="button" class="secondary small" disabled={tests()[p.name] === 'running'} onClick={() => void testProvider(p.name)} aria-label={`Test connection to ${p.name}`}>
                                <Plug /> {tests()[p.name] === 'running' ? 'Testing…' : 'Test'}
                              </button>
                              <Show when={p.source === 'database'}>
                                <button type="button" class="secondary small" onClick={() => setForm(p)} aria-label={`Edit ${p.name}`}><Pencil /> Edit</button>
                                <ConfirmButton
                                  label="Delete"
                                  icon={() => <Trash />}
                                  ariaLabel={`Delete ${p.name}`}
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
                            <td colSpan={6}>
                              <TestOutcome name={p.name} result={tests()[p.name] as TestResult | { failed: unknown }} />
                            </td>
                          </tr>
                        </Show>
                      </>
                    )}
                  </For>
                </tbody>

            </ResponsiveTable>
          )}
        </Match>
      </Switch>

      <h2 class="section-title">Models and prices</h2>
      <p class="hint">Prices are US dollars per 1M tokens and are what budgets and usage are charged at. Models without custom prices use the provider's defaults. Edit a model for its provider, upstream id, output cap, fallback and whether it is offered at all.</p>
      <Switch>
        <Match when={catalog.error}><ErrorAlert error={catalog.error} retry={() => void refetchCatalog()} /></Match>
        <Match when={catalog.loading && !catalog.latest}><Loading label="Loading models…" /></Match>
        <Match when={catalog.latest?.length === 0}>
          <Empty title="No models">None of the providers lists a model yet. Test a provider's connection to see what it offers.</Empty>
        </Match>
        <Match when={catalog.latest}>{(list) => <ModelsTable models={list()} providers={providers.latest?.map((p) => p.name) ?? []} onChanged={() => void refetchCatalog()} />}</Match>
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
