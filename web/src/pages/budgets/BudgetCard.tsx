import { Show } from 'solid-js'
import { A } from '@solidjs/router'
import { Pencil, Trash } from '../../icons.ts'
import { ConfirmButton, formatUsd } from '../../ui.tsx'
import { level, PERIODS, type Budget } from './types.ts'

const LEVEL_TEXT = { ok: 'within budget', warn: 'near the limit', bad: 'limit reached' } as const

/** One budget: who it covers, its period, and a bar of spent plus reserved against the limit. */
export function BudgetCard(props: { budget: Budget; target: string; canManage: boolean; onDelete: () => Promise<unknown> }) {
  const b = () => props.budget
  const lvl = () => level(b())
  const width = () => `${Math.min(100, Math.max(0, b().used_pct))}%`
  const period = () => PERIODS.find((p) => p.id === b().period)?.label ?? b().period
  const day = (iso: string) => new Date(iso).toLocaleDateString()
  return (
    <article class="card budget-card" aria-labelledby={`budget-${b().id}`} data-testid="budget">
      <div class="budget-head">
        <h2 id={`budget-${b().id}`}>{b().name}</h2>
        <span class={`badge ${lvl()}`}>{LEVEL_TEXT[lvl()]}</span>
        <Show when={!b().is_active}><span class="badge bad">paused</span></Show>
      </div>
      <p class="muted budget-meta">
        {props.target} · {period()} ({day(b().period_start)} – {day(b().period_end)}) · {b().is_hard ? 'blocks requests at the limit' : 'warns only'}
      </p>
      <div
        class={`progress ${lvl() === 'ok' ? '' : lvl()}`}
        role="progressbar"
        aria-label={`${b().name}: used of limit`}
        aria-valuemin="0"
        aria-valuemax="100"
        aria-valuenow={Math.min(100, b().used_pct)}
        aria-valuetext={`${b().used_pct}% used`}
      >
        <span style={{ width: width() }} />
      </div>
      <p class="budget-numbers">
        <strong>{formatUsd(b().spent_usd)}</strong> spent of <strong>{formatUsd(b().limit_usd)}</strong> ({b().used_pct}%) · warns at {b().warn_threshold_pct}%
      </p>
      <Show when={b().reserved_usd > 0}>
        <p class="hint budget-held" title="Requests running now hold their worst-case cost until they finish; idle holds are given back within seconds.">
          {formatUsd(b().reserved_usd)} held for requests in progress
        </p>
      </Show>
      <Show when={props.canManage}>
        <div class="actions">
          <A class="button secondary small" href={`/budgets/${b().id}`} aria-label={`Edit ${b().name}`}><Pencil /> Edit</A>
          <ConfirmButton
            label="Delete"
            icon={() => <Trash />}
            title={`Delete the budget "${b().name}"?`}
            message="Spending it covered is no longer limited by it. This cannot be undone."
            confirmLabel="Delete budget"
            action={props.onDelete}
          />
        </div>
      </Show>
    </article>
  )
}
