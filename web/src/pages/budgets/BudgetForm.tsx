import { createSignal, For, Show } from 'solid-js'
import { ApiError } from '../../api.ts'
import { aboutField, ErrorAlert, errorFor, Field } from '../../ui.tsx'
import { PERIODS, SCOPE_LABEL, type Budget, type BudgetPeriod, type BudgetScope, type KeyOption, type UserOption } from './types.ts'

export interface BudgetChoices {
  /** Global and user budgets are for administrators; everyone may budget their own keys. */
  scopes: BudgetScope[]
  users: UserOption[]
  keys: KeyOption[]
}

type Body = Record<string, unknown>

/**
 * Create a budget, or edit one (the API lets name, limit, blocking, warning threshold and active state change;
 * scope and period are fixed once created). The limit is typed in dollars; the server keeps micro-dollars.
 */
export function BudgetForm(props: {
  initial?: Budget
  choices: BudgetChoices
  submitLabel: string
  onSubmit: (body: Body) => Promise<unknown>
  onCancel: () => void
}) {
  const init = props.initial
  const [name, setName] = createSignal(init?.name ?? '')
  const [scope, setScope] = createSignal<BudgetScope>(props.choices.scopes.includes('user') ? 'user' : 'api_key')
  const [userId, setUserId] = createSignal('')
  const [keyId, setKeyId] = createSignal('')
  const [limit, setLimit] = createSignal(init ? String(init.limit_usd) : '')
  const [period, setPeriod] = createSignal<BudgetPeriod>('monthly')
  const [start, setStart] = createSignal('')
  const [end, setEnd] = createSignal('')
  const [hard, setHard] = createSignal(init?.is_hard ?? true)
  const [active, setActive] = createSignal(init?.is_active ?? true)
  const [warnAt, setWarnAt] = createSignal(String(init?.warn_threshold_pct ?? 80))
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)

  const invalid = (field: string) => {
    const e = error()
    return e instanceof ApiError && (e.param ?? '').split(/[/.[]/)[0] === field
  }
  const fail = (message: string, param: string) => new ApiError(400, message, 'validation_failed', param)
  /** An error about a field is shown beside it, in the form's words. */
  const LABELS: Record<string, string> = { name: 'Name', user_id: 'User', api_key_id: 'API key', limit_usd: 'Limit', warn_threshold_pct: 'Warn at', period_start: 'Start', period_end: 'End' }
  const shown = (field: string) => errorFor(error(), field, LABELS)

  function build(): Body | ApiError {
    const body: Body = { name: name().trim() }
    if (!body.name) return fail('Give the budget a name.', 'name')
    const usd = Number(limit())
    if (limit().trim() === '' || !Number.isFinite(usd) || usd < 0) return fail('The limit must be an amount in dollars, 0 or more.', 'limit_usd')
    body.limit_usd = Math.round(usd * 1_000_000) / 1_000_000
    const pct = Number(warnAt())
    if (!Number.isInteger(pct) || pct < 1 || pct > 100) return fail('Warn at must be a whole percentage from 1 to 100.', 'warn_threshold_pct')
    body.warn_threshold_pct = pct
    body.is_hard = hard()
    if (init) {
      body.is_active = active()
      return body
    }
    body.scope = scope()
    if (scope() === 'user') {
      if (!userId()) return fail('Choose the user this budget covers.', 'user_id')
      body.user_id = userId()
    }
    if (scope() === 'api_key') {
      if (!keyId()) return fail('Choose the API key this budget covers.', 'api_key_id')
      body.api_key_id = keyId()
    }
    body.period = period()
    if (period() === 'custom') {
      if (!start() || !end() || new Date(start()) >= new Date(end())) return fail('A custom period needs a start before its end.', 'period_end')
      body.period_start = new Date(start()).toISOString()
      body.period_end = new Date(end()).toISOString()
    }
    return body
  }

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    const body = build()
    if (body instanceof ApiError) return setError(body)
    setBusy(true)
    setError(null)
    try {
      await props.onSubmit(body)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form class="stack" onSubmit={(e) => void submit(e)} novalidate>
      <Field label="Name" for="budget-name" error={shown('name')}>
        <input id="budget-name" required maxlength="100" aria-invalid={invalid('name')} value={name()} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <Show when={!init}>
        <div class="row">
          <Field label="Applies to" for="budget-scope">
            <select id="budget-scope" value={scope()} onChange={(e) => setScope(e.currentTarget.value as BudgetScope)}>
              <For each={props.choices.scopes}>{(s) => <option value={s}>{SCOPE_LABEL[s]}</option>}</For>
            </select>
          </Field>
          <Show when={scope() === 'user'}>
            <Field label="User" for="budget-user" error={shown('user_id')}>
              <select id="budget-user" aria-invalid={invalid('user_id')} value={userId()} onChange={(e) => setUserId(e.currentTarget.value)}>
                <option value="">Choose a user…</option>
                <For each={props.choices.users}>{(u) => <option value={u.id}>{u.email}</option>}</For>
              </select>
            </Field>
          </Show>
          <Show when={scope() === 'api_key'}>
            <Field label="API key" for="budget-key" hint={props.choices.keys.length ? 'The key whose spending this limits.' : 'Create an API key first.'} error={shown('api_key_id')}>
              <select id="budget-key" aria-describedby="budget-key-hint" aria-invalid={invalid('api_key_id')} value={keyId()} onChange={(e) => setKeyId(e.currentTarget.value)}>
                <option value="">Choose a key…</option>
                <For each={props.choices.keys}>{(k) => <option value={k.id}>{k.name} ({k.key_prefix}…)</option>}</For>
              </select>
            </Field>
          </Show>
        </div>
      </Show>
      <div class="row">
        <Field label="Limit (US dollars)" for="budget-limit" error={shown('limit_usd')}>
          <input id="budget-limit" type="number" min="0" step="0.01" inputmode="decimal" aria-invalid={invalid('limit_usd')} value={limit()} onInput={(e) => setLimit(e.currentTarget.value)} />
        </Field>
        <Show when={!init}>
          <Field label="Period" for="budget-period" hint="Spending starts again at zero each period.">
            <select id="budget-period" aria-describedby="budget-period-hint" value={period()} onChange={(e) => setPeriod(e.currentTarget.value as BudgetPeriod)}>
              <For each={PERIODS}>{(p) => <option value={p.id}>{p.label}</option>}</For>
            </select>
          </Field>
        </Show>
        <Field label="Warn at (% of the limit)" for="budget-warn" error={shown('warn_threshold_pct')}>
          <input id="budget-warn" type="number" min="1" max="100" step="1" aria-invalid={invalid('warn_threshold_pct')} value={warnAt()} onInput={(e) => setWarnAt(e.currentTarget.value)} />
        </Field>
      </div>
      <Show when={!init && period() === 'custom'}>
        <div class="row">
          <Field label="Starts" for="budget-start" error={shown('period_start')}>
            <input id="budget-start" type="datetime-local" value={start()} onInput={(e) => setStart(e.currentTarget.value)} />
          </Field>
          <Field label="Ends" for="budget-end" error={shown('period_end')}>
            <input id="budget-end" type="datetime-local" aria-invalid={invalid('period_end')} value={end()} onInput={(e) => setEnd(e.currentTarget.value)} />
          </Field>
        </div>
      </Show>
      <label class="check">
        <input type="checkbox" checked={hard()} onChange={(e) => setHard(e.currentTarget.checked)} />
        Block requests that would go over the limit
      </label>
      <Show when={init}>
        <label class="check">
          <input type="checkbox" checked={active()} onChange={(e) => setActive(e.currentTarget.checked)} />
          Active
        </label>
      </Show>
      <Show when={error() && !aboutField(error(), Object.keys(LABELS))}><ErrorAlert error={error()} /></Show>
      <div class="actions">
        <button type="button" class="secondary" onClick={() => props.onCancel()}>Cancel</button>
        <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : props.submitLabel}</button>
      </div>
    </form>
  )
}
