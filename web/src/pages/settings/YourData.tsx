/**
 * The person's data rights: download everything they own as one JSON file, and delete their account with everything
 * they own (their password and a typed confirmation; nothing can be recovered afterwards).
 */
import { createSignal, Show } from 'solid-js'
import { useNavigate } from '@solidjs/router'
import { api, ApiError, authorizedFetch } from '../../api.ts'
import { signOut } from '../../session.ts'
import { Card, ErrorAlert, Field, fieldMessage } from '../../ui.tsx'
import { toast } from '../../toast.tsx'

const CONFIRMATION = 'delete my account'

/** Fetches an export and hands it to the browser as a download (its file name from the server). */
export async function downloadExport(path: string): Promise<void> {
  const res = await authorizedFetch(path)
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'enclava-export.json'
  const url = URL.createObjectURL(await res.blob())
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

export function YourData() {
  const navigate = useNavigate()
  const [exporting, setExporting] = createSignal(false)
  const [exportError, setExportError] = createSignal<unknown>(null)
  const [password, setPassword] = createSignal('')
  const [confirm, setConfirm] = createSignal('')
  const [errors, setErrors] = createSignal<{ password?: string; confirm?: string }>({})
  const [general, setGeneral] = createSignal<unknown>(null)
  const [deleting, setDeleting] = createSignal(false)

  async function exportMine() {
    setExportError(null)
    setExporting(true)
    try {
      await downloadExport('/api-internal/v1/account/export')
      toast('Your data is downloading')
    } catch (err) {
      setExportError(err)
    } finally {
      setExporting(false)
    }
  }

  async function deleteMine(e: Event) {
    e.preventDefault()
    setErrors({})
    setGeneral(null)
    if (confirm().trim().toLowerCase() !== CONFIRMATION) {
      setErrors({ confirm: `Type “${CONFIRMATION}” to confirm` })
      return
    }
    setDeleting(true)
    try {
      await api('POST', '/api-internal/v1/account/delete', { body: { password: password(), confirm: confirm() } })
      await signOut().catch(() => {})
      navigate('/sign-in', { replace: true })
    } catch (err) {
      if (err instanceof ApiError && (err.param === 'password' || err.param === 'confirm'))
        setErrors({ [err.param]: fieldMessage(err, { password: 'Password', confirm: 'Confirmation' }) })
      else setGeneral(err)
    } finally {
      setDeleting(false)
    }
  }

  return (
    <Card title="Your data" testid="your-data">
      <div class="stack">
        <p class="muted">Everything you own (profile, keys, usage, documents with their files, chatbots and conversations, agents, prompts, notifications, and the audit events you caused), as one JSON file.</p>
        <Show when={exportError()}><ErrorAlert error={exportError()} /></Show>
        <div><button type="button" class="secondary" disabled={exporting()} onClick={() => void exportMine()}>{exporting() ? 'Preparing…' : 'Download my data'}</button></div>
        <form class="stack your-data-delete" onSubmit={(e) => void deleteMine(e)}>
          <h3>Delete my account</h3>
          <p class="muted small-text">Deletes your account and everything you own, files included. Your usage stays only as anonymous daily totals. This cannot be undone.</p>
          <Field label="Your password" for="delete-password" error={errors().password}>
            <input id="delete-password" type="password" autocomplete="current-password" required value={password()} onInput={(e) => setPassword(e.currentTarget.value)} aria-invalid={errors().password ? 'true' : undefined} />
          </Field>
          <Field label={`Type “${CONFIRMATION}”`} for="delete-confirm" error={errors().confirm}>
            <input id="delete-confirm" required value={confirm()} onInput={(e) => setConfirm(e.currentTarget.value)} aria-invalid={errors().confirm ? 'true' : undefined} />
          </Field>
          <Show when={general()}><ErrorAlert error={general()} /></Show>
          <div><button type="submit" class="danger" disabled={deleting()}>{deleting() ? 'Deleting…' : 'Delete my account'}</button></div>
        </form>
      </div>
    </Card>
  )
}
