/**
 * Prompt templates: each chatbot type's default (administrators may replace it and reset it to the built-in one)
 * and the person's own templates (edit, delete, create). Editing a template does not change existing chatbots:
 * they keep the prompt they were given.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../../api.ts'
import type { User } from '../../session.ts'
import { BackLink, ConfirmButton, Empty, ErrorAlert, Field, Loading, PageHeader } from '../../ui.tsx'
import { BASE, CHATBOT_TYPES, TYPE_LABELS, type ChatbotType, type Templates } from './types.ts'

type Custom = Templates['custom'][number]

export function TemplatesView() {
  const [data, { refetch }] = createResource(() => api<Templates>('GET', `${BASE}/templates`))
  const [me] = createResource(() => api<User>('GET', '/api-internal/v1/auth/me'))
  const isAdmin = () => me()?.permissions?.includes('chatbots:admin') ?? false

  return (
    <section aria-labelledby="page-title" class="stack chatbots-page">
      <BackLink href="/chatbots" label="All chatbots" />
      <PageHeader title="Prompt templates" />
      <Switch>
        <Match when={data.error}><ErrorAlert error={data.error} retry={() => void refetch()} /></Match>
        <Match when={data.loading && !data.latest}><Loading label="Loading templates…" /></Match>
        <Match when={data.latest}>
          {(t) => (
            <>
              <section class="stack" aria-labelledby="defaults-title">
                <h2 id="defaults-title">Defaults by type</h2>
                <p class="muted">
                  A new chatbot starts with its type's default. <Show when={!isAdmin()}>Only administrators can change the defaults.</Show>
                </p>
                <div class="template-grid">
                  <For each={CHATBOT_TYPES}>
                    {(type) => <DefaultTemplate type={type} entry={t().defaults[type]} editable={isAdmin()} onChanged={() => void refetch()} />}
                  </For>
                </div>
              </section>
              <section class="stack" aria-labelledby="custom-title">
                <h2 id="custom-title">Your templates</h2>
                <Show when={t().custom.length === 0}>
                  <Empty title="No templates of your own yet">Save prompts you reuse here; the builder offers them under “Start from a template”.</Empty>
                </Show>
                <div class="template-grid">
                  <For each={t().custom}>{(c) => <CustomTemplate template={c} onDeleted={() => void refetch()} />}</For>
                </div>
                <NewTemplate onCreated={() => void refetch()} />
              </section>
            </>
          )}
        </Match>
      </Switch>
    </section>
  )
}

function DefaultTemplate(props: { type: ChatbotType; entry: { content: string; builtin: boolean }; editable: boolean; onChanged: () => void }) {
  const [text, setText] = createSignal(props.entry.content)
  const [status, setStatus] = createSignal('')
  const [error, setError] = createSignal<unknown>(null)
  const id = `default-${props.type}`

  async function save(e: SubmitEvent) {
    e.preventDefault()
    setStatus('')
    setError(null)
    try {
      await api('PUT', `${BASE}/templates/defaults/${props.type}`, { body: { content: text() } })
      setStatus('Saved.')
      props.onChanged()
    } catch (err) {
      setError(err)
    }
  }

  return (
    <form class="card template" aria-labelledby={`${id}-title`} onSubmit={(e) => void save(e)}>
      <div class="test-chat-head">
        <h3 id={`${id}-title`}>{TYPE_LABELS[props.type]}</h3>
        {props.entry.builtin ? <span class="badge ok">built-in</span> : <span class="badge warn">customised</span>}
      </div>
      <Show when={props.editable} fallback={<p class="template-text">{props.entry.content}</p>}>
        <label class="sr-only" for={id}>{`${TYPE_LABELS[props.type]} default prompt`}</label>
        <textarea id={id} required maxLength={20000} value={text()} onInput={(e) => setText(e.currentTarget.value)} />
        <Show when={error()}><ErrorAlert error={error()} /></Show>
        <div class="actions">
          <p role="status" class="muted">{status()}</p>
          <Show when={!props.entry.builtin}>
            <ConfirmButton
              label="Reset to default"
              class="secondary small"
              title={`Reset the ${TYPE_LABELS[props.type]} default?`}
              message={<>The customised text is replaced by the built-in prompt. Existing chatbots keep their prompts.</>}
              confirmLabel="Reset"
              action={async () => {
                const r = await api<{ content: string }>('DELETE', `${BASE}/templates/defaults/${props.type}`)
                setText(r.content)
                setStatus('Reset to the built-in prompt.')
                props.onChanged()
              }}
            />
          </Show>
          <button type="submit" class="small" disabled={!text().trim() || text() === props.entry.content}>Save</button>
        </div>
      </Show>
    </form>
  )
}

/** Saving keeps the list as it is (a refetch would re-create this form and lose its status); deleting refetches. */
function CustomTemplate(props: { template: Custom; onDeleted: () => void }) {
  const [name, setName] = createSignal(props.template.name)
  const [savedName, setSavedName] = createSignal(props.template.name)
  const [text, setText] = createSignal(props.template.content)
  const [status, setStatus] = createSignal('')
  const [error, setError] = createSignal<unknown>(null)
  const id = `tpl-${props.template.id}`

  async function save(e: SubmitEvent) {
    e.preventDefault()
    setStatus('')
    setError(null)
    try {
      const saved = await api<Custom>('PATCH', `${BASE}/templates/${props.template.id}`, { body: { name: name().trim(), content: text() } })
      setSavedName(saved.name)
      setStatus('Saved.')
    } catch (err) {
      setError(err)
    }
  }

  return (
    <form class="card template" aria-label={`Template ${savedName()}`} onSubmit={(e) => void save(e)}>
      <Field label="Name" for={`${id}-name`}>
        <input id={`${id}-name`} required maxLength={200} value={name()} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <Field label="Prompt" for={`${id}-content`}>
        <textarea id={`${id}-content`} required maxLength={20000} value={text()} onInput={(e) => setText(e.currentTarget.value)} />
      </Field>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <div class="actions">
        <p role="status" class="muted">{status()}</p>
        <ConfirmButton
          label="Delete"
          title={`Delete the template “${savedName()}”?`}
          message={<>Chatbots that started from it keep their prompts.</>}
          confirmLabel="Delete template"
          action={async () => {
            await api('DELETE', `${BASE}/templates/${props.template.id}`)
            props.onDeleted()
          }}
        />
        <button type="submit" class="small" disabled={!name().trim() || !text().trim()}>Save</button>
      </div>
    </form>
  )
}

function NewTemplate(props: { onCreated: () => void }) {
  const [name, setName] = createSignal('')
  const [type, setType] = createSignal<ChatbotType | ''>('')
  const [text, setText] = createSignal('')
  const [error, setError] = createSignal<unknown>(null)
  const [busy, setBusy] = createSignal(false)

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    setError(null)
    setBusy(true)
    try {
      await api('POST', `${BASE}/templates`, { body: { name: name().trim(), content: text(), ...(type() ? { type: type() } : {}) } })
      setName('')
      setText('')
      setType('')
      props.onCreated()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form class="card" aria-labelledby="new-template-title" onSubmit={(e) => void submit(e)}>
      <h3 id="new-template-title">New template</h3>
      <div class="row">
        <Field label="Template name" for="new-template-name">
          <input id="new-template-name" required maxLength={200} value={name()} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field label="For type (optional)" for="new-template-type">
          <select id="new-template-type" value={type()} onChange={(e) => setType(e.currentTarget.value as ChatbotType | '')}>
            <option value="">Any type</option>
            <For each={CHATBOT_TYPES}>{(t) => <option value={t}>{TYPE_LABELS[t]}</option>}</For>
          </select>
        </Field>
      </div>
      <Field label="Template prompt" for="new-template-content">
        <textarea id="new-template-content" required maxLength={20000} value={text()} onInput={(e) => setText(e.currentTarget.value)} />
      </Field>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <div class="actions">
        <button type="submit" disabled={busy() || !name().trim() || !text().trim()}>{busy() ? 'Saving…' : 'Save template'}</button>
      </div>
    </form>
  )
}
