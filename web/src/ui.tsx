/**
 * The building blocks every page uses, so headers, loading (skeletons), empty and error states, permission notices,
 * form fields with their errors, confirmations and copying look and behave the same everywhere. Errors are always
 * sentences (ApiError.message, with the API's field names put in words), never JSON; an error about one field is
 * shown beside that field, not in a banner.
 */
import { createEffect, createSignal, createUniqueId, For, Match, onCleanup, Show, Switch, type Accessor, type JSX, type ParentProps } from 'solid-js'
import { A } from '@solidjs/router'
import { ApiError } from './api.ts'
import { AlertCircle, ArrowLeft, Check, Copy, Inbox, Lock, RefreshCw, X } from './icons.ts'
import { roleLabel, useMe } from './me.ts'
import { toast } from './toast.tsx'

/** A sentence fit to show people for anything a request or a page threw. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message
  return 'Something went wrong. Try again.'
}

/** `new_password` → "new password": how the API's field names read in a sentence. */
const words = (param: string) => param.replace(/[_.]/g, ' ').trim()
const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)

/**
 * The server's message about one field, in the words of that field's label: "Invalid body: 'chunk_overlap' must be
 * less than …" and "new_password must differ …" become "Chunk overlap must be less than …", "New password must
 * differ …".
 */
export function fieldMessage(error: ApiError, labels: Record<string, string> = {}): string {
  let message = error.message.replace(/^Invalid (body|query|params?|headers?): /, '')
  const names = { ...labels }
  if (error.param && !(error.param in names)) names[error.param] = words(error.param)
  for (const [key, label] of Object.entries(names)) {
    const raw = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    message = message.replace(new RegExp(`'${raw}'|\\b${raw}\\b`, 'g'), label.toLowerCase())
  }
  return capitalise(message)
}

/** The form field an API error is about: the first segment of its `param` ("allowed_ips/0" → "allowed_ips"). */
export const paramOf = (error: unknown): string | null => (error instanceof ApiError ? (error.param ?? '').split(/[/.[]/)[0] || null : null)

/** The message to show beside `field` when `error` is about it, in words. */
export const errorFor = (error: unknown, field: string, labels: Record<string, string> = {}): string | undefined =>
  error instanceof ApiError && paramOf(error) === field ? fieldMessage(error, labels) : undefined

/** Whether an error belongs beside one of a form's fields (and not in a message of its own). */
export const aboutField = (error: unknown, fields: readonly string[]) => fields.includes(paramOf(error) ?? '')

/**
 * A form's errors: one per field it names (shown beside the field), and what belongs to no field (shown by the
 * submit button). `take(error)` files an ApiError under its `param` when the form has that field.
 *
 * @example
 * const errors = createFormErrors({ name: 'Name', chunk_tokens: 'Chunk size' })
 * try { await save() } catch (e) { errors.take(e) }
 * <Field label="Name" for="name" error={errors.field('name')}>…</Field>
 */
export function createFormErrors<K extends string>(labels: Record<K, string>) {
  const [fields, setFields] = createSignal<Partial<Record<K, string>>>({})
  const [general, setGeneral] = createSignal<unknown>(null)
  return {
    field: (key: K): string | undefined => fields()[key],
    general,
    /** Sets the errors found before sending (client checks). */
    set: (next: Partial<Record<K, string>>) => {
      setFields(() => next)
      setGeneral(null)
    },
    clear: (key?: K) => {
      if (key === undefined) {
        setFields(() => ({}))
        setGeneral(null)
      } else if (fields()[key]) {
        const next = { ...fields() }
        delete next[key]
        setFields(() => next)
      }
    },
    take(error: unknown) {
      const param = error instanceof ApiError ? (error.param?.split('.')[0] as K | undefined) : undefined
      if (error instanceof ApiError && param && param in labels) {
        setFields(() => ({ [param]: fieldMessage(error, labels) }) as Partial<Record<K, string>>)
        setGeneral(null)
      } else {
        setFields(() => ({}))
        setGeneral(error)
      }
    },
    any: () => Object.keys(fields()).length > 0,
  }
}

export function ErrorAlert(props: { error: unknown; retry?: () => void }) {
  return (
    <div class="alert error" role="alert">
      <AlertCircle />
      <span class="alert-body">{errorMessage(props.error)}</span>
      <Show when={props.retry}>
        <button class="secondary small" onClick={() => props.retry?.()}><RefreshCw /> Try again</button>
      </Show>
    </div>
  )
}

/** A message under a control; its id (`<control id>-error`) is what the control's aria-describedby names. */
export function FieldError(props: { id: string; error: string | undefined | null }) {
  return (
    <Show when={props.error}>
      <p class="field-error" id={`${props.id}-error`}><AlertCircle /><span>{props.error}</span></p>
    </Show>
  )
}

/** What a control's aria-describedby should say: its hint and its error, when there are any. */
export const describedBy = (id: string, opts: { hint?: boolean; error?: string | null | undefined }) =>
  [opts.hint ? `${id}-hint` : '', opts.error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined

/**
 * A labelled form control with its hint and its error, both tied to the control for screen readers (give the control
 * `aria-describedby={describedBy(id, …)}` and `aria-invalid`). In a `.form-grid` the labels line up in a column.
 */
export function Field(props: ParentProps<{ label: string; for: string; hint?: JSX.Element; error?: string | null | undefined; class?: string }>) {
  return (
    <div class={`field ${props.class ?? ''}`}>
      <label for={props.for}>{props.label}</label>
      <div class="field-control">
        {props.children}
        <Show when={props.hint}><p class="hint" id={`${props.for}-hint`}>{props.hint}</p></Show>
        <FieldError id={props.for} error={props.error} />
      </div>
    </div>
  )
}

/** Loading: grey lines where the content will be (announced as loading to screen readers). */
export function Loading(props: { label?: string; lines?: number }) {
  return (
    <div class="skeleton" role="status" aria-live="polite" data-testid="loading">
      <span class="sr-only">{props.label ?? 'Loading…'}</span>
      <For each={Array.from({ length: props.lines ?? 3 })}>{(_, i) => <div class="skeleton-line" style={{ width: `${[92, 76, 58, 84][i() % 4]}%` }} />}</For>
    </div>
  )
}

/** A placeholder block of a given height (a chart, a table) while it loads. */
export function SkeletonBlock(props: { height: string; label?: string }) {
  return (
    <div class="skeleton" role="status" style={{ height: props.height }}>
      <span class="sr-only">{props.label ?? 'Loading…'}</span>
      <div class="skeleton-block" />
    </div>
  )
}

/** Nothing to show yet: what this place is for, and what to do about it. */
export function Empty(props: ParentProps<{ title: string; icon?: () => JSX.Element; action?: JSX.Element; testid?: string }>) {
  return (
    <div class="card empty" data-testid={props.testid}>
      <div class="empty-icon" aria-hidden="true">{props.icon ? props.icon() : <Inbox />}</div>
      <p><strong>{props.title}</strong></p>
      <div class="muted">{props.children}</div>
      <Show when={props.action}><div class="actions">{props.action}</div></Show>
    </div>
  )
}

/** The way back to a list, above a detail page's title. */
export function BackLink(props: { href: string; label: string }) {
  return <A class="back-link" href={props.href}><ArrowLeft /> {props.label}</A>
}

/** The page's title (the one h1), an optional back link above it and a sentence below, and its actions. */
export function PageHeader(props: ParentProps<{ title: string; back?: { href: string; label: string }; description?: JSX.Element }>) {
  return (
    <>
      <Show when={props.back}>{(b) => <BackLink href={b().href} label={b().label} />}</Show>
      <div class="page-header">
        <h1 id="page-title">{props.title}</h1>
        <div class="actions">{props.children}</div>
      </div>
      <Show when={props.description}><p class="page-intro">{props.description}</p></Show>
    </>
  )
}

/** A card with a heading and, on the right, its actions. */
export function Card(props: ParentProps<{ title: JSX.Element; id?: string; actions?: JSX.Element; class?: string; testid?: string; level?: 2 | 3 }>) {
  const id = props.id ?? createUniqueId()
  return (
    <section class={`card ${props.class ?? ''}`} aria-labelledby={id} data-testid={props.testid}>
      <div class="card-head">
        <Show when={props.level === 3} fallback={<h2 id={id}>{props.title}</h2>}><h3 id={id}>{props.title}</h3></Show>
        <Show when={props.actions}><div class="actions">{props.actions}</div></Show>
      </div>
      {props.children}
    </section>
  )
}

/**
 * Details beside a list: a modal panel along the right edge (full width on a phone) that opens where the person is,
 * without scrolling the page, keeps the focus inside until closed (Escape, the close button), and gives it back.
 */
export function Drawer(props: ParentProps<{ open: boolean; title: JSX.Element; onClose: () => void; actions?: JSX.Element; testid?: string }>) {
  let dialog: HTMLDialogElement | undefined
  const id = createUniqueId()
  createEffect(() => {
    if (!dialog) return
    if (props.open && !dialog.open) dialog.showModal()
    else if (!props.open && dialog.open) dialog.close()
  })
  onCleanup(() => dialog?.open && dialog.close())
  return (
    <dialog ref={dialog} class="drawer" aria-labelledby={id} onClose={() => props.onClose()} data-testid={props.testid}>
      <div class="drawer-head">
        <h2 id={id}>{props.title}</h2>
        {props.actions}
        <button type="button" class="ghost icon" aria-label="Close details" onClick={() => dialog?.close()}><X /></button>
      </div>
      <div class="drawer-body stack">{props.open ? props.children : null}</div>
    </dialog>
  )
}

export function NoPermission(props: { what: string; permission: string; role: string | undefined }) {
  return (
    <div class="card empty" role="status" data-testid="no-permission">
      <div class="empty-icon" aria-hidden="true"><Lock /></div>
      <p><strong>You do not have permission to {props.what}.</strong></p>
      <p class="muted">
        This needs the <code>{props.permission}</code> permission, which your role
        {props.role ? ` (${roleLabel(props.role)})` : ''} does not include. Ask an administrator if you need access.
      </p>
    </div>
  )
}

/**
 * A page (or part) for those holding `permission`: a skeleton while the person's permissions load, a notice for those
 * without it, the children for the rest. Nothing is requested that the server would refuse.
 *
 * @example
 * <Gate title="Plugins" permission="plugins:manage" what="manage plugins"><PluginList /></Gate>
 */
export function Gate(props: ParentProps<{ title: string; permission: string; what: string; header?: boolean }>) {
  const { me, can } = useMe()
  return (
    <Switch>
      <Match when={me.error}>
        <Show when={props.header !== false}><PageHeader title={props.title} /></Show>
        <ErrorAlert error={me.error} />
      </Match>
      <Match when={!me.latest}>
        <Show when={props.header !== false}><PageHeader title={props.title} /></Show>
        <Loading />
      </Match>
      <Match when={!can(props.permission)}>
        <Show when={props.header !== false}><PageHeader title={props.title} /></Show>
        <NoPermission what={props.what} permission={props.permission} role={me.error ? undefined : me.latest?.role} />
      </Match>
      <Match when={true}>{props.children}</Match>
    </Switch>
  )
}

/**
 * A button for a destructive action: it asks first, in a modal dialog that names what will happen, and only then
 * runs `action`. Errors from `action` are shown in the dialog; `done` (a toast) says what happened.
 */
export function ConfirmButton(props: {
  label: string
  title: string
  message: JSX.Element
  confirmLabel?: string
  action: () => Promise<unknown>
  class?: string
  icon?: () => JSX.Element
  ariaLabel?: string
  done?: string
}) {
  let dialog: HTMLDialogElement | undefined
  const titleId = createUniqueId()
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)
  async function confirm() {
    setBusy(true)
    setError(null)
    try {
      await props.action()
      dialog?.close()
      if (props.done) toast(props.done)
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }
  return (
    <>
      <button class={props.class ?? 'danger small'} type="button" aria-label={props.ariaLabel} onClick={() => dialog?.showModal()}>
        {props.icon?.()}
        {props.label}
      </button>
      <dialog ref={dialog} aria-labelledby={titleId}>
        <h2 id={titleId}>{props.title}</h2>
        <p>{props.message}</p>
        <Show when={error()}><ErrorAlert error={error()} /></Show>
        <div class="actions">
          <button class="secondary" type="button" onClick={() => dialog?.close()}>Cancel</button>
          <button class="danger" type="button" disabled={busy()} onClick={() => void confirm()}>{props.confirmLabel ?? props.label}</button>
        </div>
      </dialog>
    </>
  )
}

export function CopyButton(props: { text: string; label?: string; iconOnly?: boolean; class?: string }) {
  const [copied, setCopied] = createSignal(false)
  async function copy() {
    try {
      await navigator.clipboard.writeText(props.text)
      setCopied(true)
      setTimeout(() => setCopied(false), 2000)
    } catch {
      // Clipboard access can be refused (insecure context, permissions); the text stays selectable on screen.
      toast('The browser did not allow copying; select the text instead.', 'error')
    }
  }
  const label = () => (copied() ? 'Copied' : (props.label ?? 'Copy'))
  return (
    <button class={props.class ?? 'secondary small'} type="button" onClick={() => void copy()} aria-label={props.iconOnly ? label() : undefined} title={props.iconOnly ? label() : undefined}>
      {copied() ? <Check /> : <Copy />}
      <Show when={!props.iconOnly}>{label()}</Show>
    </button>
  )
}

/** A badge for a yes/no state. */
export function Badge(props: ParentProps<{ tone?: 'ok' | 'warn' | 'bad' | 'accent'; title?: string }>) {
  return <span class={`badge ${props.tone ?? ''}`} title={props.title}>{props.children}</span>
}

export const formatNumber = (n: number) => new Intl.NumberFormat().format(n)

/**
 * Money in the API is integer micro-dollars. Small amounts keep two significant digits ($0.000042) instead of
 * reading "$0.00" or "< $0.0001"; a cent and more have two decimals.
 */
export function formatMicros(micros: number): string {
  if (micros === 0) return '$0.00'
  const usd = micros / 1_000_000
  const sign = usd < 0 ? '-' : ''
  const abs = Math.abs(usd)
  if (abs >= 0.01) return `${sign}$${abs.toFixed(2)}`
  return `${sign}$${abs.toFixed(Math.min(6, Math.max(2, 1 - Math.floor(Math.log10(abs)))))}`
}

/** Dollars as the API gives them in budgets (a float): the same format. */
export const formatUsd = (usd: number) => formatMicros(Math.round(usd * 1_000_000))

export const formatDate = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '—')

export const formatMs = (ms: number | null) => (ms === null ? '—' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`)

/** "1 document", "3 documents". */
export const plural = (n: number, word: string, many = `${word}s`) => `${formatNumber(n)} ${n === 1 ? word : many}`

/** For lists whose first load should show a skeleton but whose reloads keep the old rows on screen. */
export const firstLoad = <T,>(r: { latest: T | undefined; loading: boolean }): boolean => r.loading && r.latest === undefined

export type { Accessor }
