/**
 * The few building blocks every page uses, so loading, empty and error states, confirmations and copying look and
 * behave the same everywhere. Errors are always shown as sentences (ApiError.message), never as JSON.
 */
import { createSignal, createUniqueId, Show, type JSX, type ParentProps } from 'solid-js'
import { ApiError } from './api.ts'

/** A sentence fit to show people for anything a request or a page threw. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message
  return 'Something went wrong. Try again.'
}

export function ErrorAlert(props: { error: unknown; retry?: () => void }) {
  return (
    <div class="alert error" role="alert">
      {errorMessage(props.error)}
      <Show when={props.retry}>
        {' '}
        <button class="secondary small" onClick={() => props.retry?.()}>Try again</button>
      </Show>
    </div>
  )
}

export function Loading(props: { label?: string }) {
  return <p class="muted" role="status">{props.label ?? 'Loading…'}</p>
}

export function Empty(props: ParentProps<{ title: string }>) {
  return (
    <div class="card empty">
      <p><strong>{props.title}</strong></p>
      <div class="muted">{props.children}</div>
    </div>
  )
}

export function PageHeader(props: ParentProps<{ title: string }>) {
  return (
    <div class="page-header">
      <h1 id="page-title">{props.title}</h1>
      <div class="actions">{props.children}</div>
    </div>
  )
}

/**
 * A button for a destructive action: it asks first, in a modal dialog that names what will happen, and only then
 * runs `action`. Errors from `action` are shown in the dialog.
 */
export function ConfirmButton(props: {
  label: string
  title: string
  message: JSX.Element
  confirmLabel?: string
  action: () => Promise<unknown>
  class?: string
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
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }
  return (
    <>
      <button class={props.class ?? 'danger small'} type="button" onClick={() => dialog?.showModal()}>{props.label}</button>
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

export function CopyButton(props: { text: string; label?: string }) {
  const [copied, setCopied] = createSignal(false)
  async function copy() {
    try {
      await navigator.clipboard.writeText(props.text)
      setCopied(true)
      setTimeout(() => setCopied(false), 2000)
    } catch {
      // Clipboard access can be refused (insecure context, permissions); the text stays selectable on screen.
    }
  }
  return (
    <button class="secondary small" type="button" onClick={() => void copy()}>
      {copied() ? 'Copied' : (props.label ?? 'Copy')}
    </button>
  )
}

/** A labelled form control; `hint` is tied to the control for screen readers. */
export function Field(props: ParentProps<{ label: string; for: string; hint?: string }>) {
  return (
    <div class="field">
      <label for={props.for}>{props.label}</label>
      {props.children}
      <Show when={props.hint}><p class="hint" id={`${props.for}-hint`}>{props.hint}</p></Show>
    </div>
  )
}

export const formatNumber = (n: number) => new Intl.NumberFormat().format(n)
/** Money in the API is integer micro-dollars. */
export const formatMicros = (micros: number) =>
  micros > 0 && micros < 100 ? '< $0.0001' : `$${(micros / 1_000_000).toFixed(micros !== 0 && Math.abs(micros) < 10_000 ? 4 : 2)}`
export const formatDate = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '—')
