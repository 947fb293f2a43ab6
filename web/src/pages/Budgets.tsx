/**
 * Budgets: spending limits for everyone, one user or one API key, with spent plus reserved money drawn against the
 * limit. `/budgets` lists and creates them; `/budgets/:id` edits one. Who may manage what is the server's rule
 * (administrators: all; others: budgets on their own keys); the page only hides what would be refused.
 */
import { createEffect, createMemo, createResource, createSignal, For, Match, onCleanup, Show, Switch } from 'solid-js'
import { A, useNavigate, useParams } from '@solidjs/router'
import { api } from '../api.ts'
import { BackLink, Empty, ErrorAlert, Loading, PageHeader } from '../ui.tsx'
import { usePermissions } from './api-keys/permissions.ts'
import { Plus, Wallet } from '../icons.ts'
import { BudgetCard } from './budgets/BudgetCard.tsx'
import { BudgetForm, type BudgetChoices } from './budgets/BudgetForm.tsx'
import { BUDGETS, level, type Budget, type KeyOption, type UserOption } from './budgets/types.ts'
import './api-keys/ApiKeys.css'
import './budgets/Budgets.css'

const HOLD_RECHECK_MS = 3000

export default function Budgets() {
  const params = useParams()
  const navigate = useNavigate()
  const { me, can } = usePermissions()
  const isAdmin = () => can('budgets:manage')

  const [budgets, { refetch, mutate }] = createResource(() => api<{ data: Budget[] }>('GET', BUDGETS).then((r) => r.data))
  // Names for the targets: users only for those who may list them; keys are everyone's own (admins: all).
  const [users] = createResource(
    () => me() && can('users:read'),
    () => api<{ data: UserOption[] }>('GET', '/api-internal/v1/users?limit=200').then((r) => r.data, () => []),
  )
  const [keys] = createResource(
    () => me() && { all: can('api_keys:admin') },
    ({ all }) => api<{ data: KeyOption[] }>('GET', `/api-internal/v1/api-keys?limit=200${all ? '&all=true' : ''}`).then((r) => r.data, () => []),
  )
  const [creating, setCreating] = createSignal(false)
  // Money held by requests in flight (and replicas' idle slices) is given back within seconds of the last request:
  // look again until nothing is held, so a budget never shows a hold with nothing running.
  let holdTimer: ReturnType<typeof setTimeout> | undefined
  let holdChecks = 0
  createEffect(() => {
    const held = (budgets.latest ?? []).some((b) => b.reserved_usd > 0)
    clearTimeout(holdTimer)
    if (!held) holdChecks = 0
    else if (holdChecks++ < 20) holdTimer = setTimeout(() => void refetch(), HOLD_RECHECK_MS)
  })
  onCleanup(() => clearTimeout(holdTimer))

  const choices = (): BudgetChoices => ({
    scopes: isAdmin() ? ['global', 'user', 'api_key'] : ['api_key'],
    users: users() ?? [],
    keys: (keys() ?? []).filter((k) => isAdmin() || k.user_id === me()?.id),
  })
  const target = (b: Budget) => {
    if (b.scope === 'global') return 'Everyone'
    if (b.scope === 'user') return `User ${users()?.find((u) => u.id === b.user_id)?.email ?? b.user_id ?? ''}`
    const k = keys()?.find((x) => x.id === b.api_key_id)
    return `API key ${k ? `${k.name} (${k.key_prefix}…)` : (b.api_key_id ?? '')}`
  }
  const canManage = (b: Budget) => can('api_keys:write') && (isAdmin() || (b.scope === 'api_key' && choices().keys.some((k) => k.id === b.api_key_id)))
  const alerts = createMemo(() => (budgets.latest ?? []).filter((b) => b.is_active && level(b) !== 'ok'))
  const editing = () => (params.id ? budgets.latest?.find((b) => b.id === params.id) : undefined)

  async function create(body: Record<string, unknown>) {
    await api<Budget>('POST', BUDGETS, { body })
    setCreating(false)
    await refetch()
  }
  async function update(id: string, body: Record<string, unknown>) {
    const saved = await api<Budget>('PATCH', `${BUDGETS}/${id}`, { body })
    mutate((list) => list?.map((b) => (b.id === id ? saved : b)))
    navigate('/budgets')
  }
  async function remove(id: string) {
    await api('DELETE', `${BUDGETS}/${id}`)
    mutate((list) => list?.filter((b) => b.id !== id))
  }

  return (
    <section aria-labelledby="page-title" class="stack">
      <Show
        when={params.id}
        fallback={
          <PageHeader title="Budgets" description="Spending limits per day, week, month or year, for everyone, one user or one API key; a hard budget refuses requests at its limit.">
            <Show when={can('api_keys:write') && !creating()}>
              <button type="button" onClick={() => setCreating(true)}><Plus /> Create budget</button>
            </Show>
          </PageHeader>
        }
      >
        <BackLink href="/budgets" label="All budgets" />
        <h1 id="page-title">Edit budget</h1>
      </Show>

      <Switch>
        <Match when={budgets.error}><ErrorAlert error={budgets.error} retry={refetch} /></Match>
        <Match when={!budgets.latest}><Loading label="Loading budgets…" /></Match>
        <Match when={params.id && !editing()}>
          <Empty title="Budget not found">It may have been deleted. <A href="/budgets">See all budgets</A>.</Empty>
        </Match>
        <Match when={editing()}>
          {(b) => (
            <div class="card">
              <Show when={canManage(b())} fallback={<p>You cannot change this budget. <A href="/budgets">Back to budgets</A></p>}>
                <BudgetForm initial={b()} choices={choices()} submitLabel="Save changes" onSubmit={(body) => update(b().id, body)} onCancel={() => navigate('/budgets')} />
              </Show>
            </div>
          )}
        </Match>
        <Match when={budgets.latest}>
          {(list) => (
            <>
              <Show when={alerts().length > 0}>
                <div class={`alert ${alerts().some((b) => level(b) === 'bad') ? 'error' : 'warning'}`} role="status" data-testid="budget-alerts">
                  <strong>Budgets needing attention:</strong>
                  <ul>
                    <For each={alerts()}>
                      {(b) => <li>{b.name}: {b.used_pct}% used{level(b) === 'bad' ? (b.is_hard ? ', further requests are blocked' : ', over the limit') : ''}</li>}
                    </For>
                  </ul>
                </div>
              </Show>
              <Show when={creating()}>
                <div class="card">
                  <h2>New budget</h2>
                  <BudgetForm choices={choices()} submitLabel="Create budget" onSubmit={create} onCancel={() => setCreating(false)} />
                </div>
              </Show>
              <Show
                when={list().length > 0}
                fallback={
                  <Empty title="No budgets yet" icon={() => <Wallet />}>
                    Budgets cap what requests may spend per day, week, month or year, for everyone, one user or one API key.
                  </Empty>
                }
              >
                <div class="budget-grid">
                  <For each={list()}>
                    {(b) => <BudgetCard budget={b} target={target(b)} canManage={canManage(b)} onDelete={() => remove(b.id)} />}
                  </For>
                </div>
              </Show>
            </>
          )}
        </Match>
      </Switch>
    </section>
  )
}
