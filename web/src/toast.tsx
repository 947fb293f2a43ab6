/**
 * Toasts: short confirmations ("Saved", "Copied", "Provider deleted") that appear in a corner and leave by
 * themselves, announced politely to screen readers. Errors that need reading stay where they happened (beside the
 * field, or in the card); a toast only confirms.
 *
 * @example
 * toast('Provider saved')
 * toast('Could not copy', 'error')
 */
import { createSignal, For } from 'solid-js'
import { AlertCircle, CheckCircle, Info, X } from './icons.ts'

type Kind = 'ok' | 'error' | 'info'
interface Toast {
  id: number
  text: string
  kind: Kind
}

const [toasts, setToasts] = createSignal<Toast[]>([])
let next = 0
const LIFETIME_MS = 4000

export function toast(text: string, kind: Kind = 'ok'): void {
  const id = ++next
  setToasts((list) => [...list.slice(-3), { id, text, kind }])
  setTimeout(() => dismiss(id), kind === 'error' ? LIFETIME_MS * 2 : LIFETIME_MS)
}

const dismiss = (id: number) => setToasts((list) => list.filter((t) => t.id !== id))

/** Mounted once, in the shell. */
export function Toaster() {
  return (
    <ul class="toasts" aria-live="polite" aria-label="Notifications">
      <For each={toasts()}>
        {(t) => (
          <li class={`toast ${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'} data-testid="toast">
            {t.kind === 'error' ? <AlertCircle /> : t.kind === 'info' ? <Info /> : <CheckCircle />}
            <span>{t.text}</span>
            <button type="button" class="ghost icon small" aria-label="Dismiss notification" onClick={() => dismiss(t.id)}><X /></button>
          </li>
        )}
      </For>
    </ul>
  )
}
