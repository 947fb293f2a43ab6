/** The chatbot list with a short create form; everything else is set in the builder the new chatbot opens in. */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A, useNavigate } from '@solidjs/router'
import { api } from '../../api.ts'
import { ConfirmButton, Empty, ErrorAlert, Field, Loading, PageHeader } from '../../ui.tsx'
import { BASE, CHATBOT_TYPES, TYPE_LABELS, type Chatbot, type ChatbotType, type Model } from './types.ts'
import { ModelSelect } from './ModelSelect.tsx'
import { ResponsiveTable } from '../../table.tsx'
import { useOwners } from '../../owners.ts'
import { Bot, FileText, Plus, Trash } from '../../icons.ts'

export function ChatbotList() {
  const owners = useOwners()
  const [bots, { refetch }] = createResource(() => api<{ data: Chatbot[] }>('GET', BASE).then((r) => r.data))
  const [onlyMine, setOnlyMine] = createSignal(false)
  // An administrator's list holds everyone's chatbots: it says whose each one is, and can be narrowed to one's own.
  const mixed = () => owners.mixed(bots.latest)
  const shown = () => (bots.latest ?? []).filter((b) => !onlyMine() || owners.mine(b.owner_id))
  return (
    <section aria-labelledby="page-title" class="stack chatbots-page">
      <PageHeader title="Chatbots" description="Assistants over the models, grounded in your documents, for the test chat, the API and a widget on your site.">
        <A class="button secondary" href="/chatbots/templates"><FileText /> Prompt templates</A>
      </PageHeader>
      <CreateForm />
      <Switch>
        <Match when={bots.error}><ErrorAlert error={bots.error} retry={() => void refetch()} /></Match>
        <Match when={bots.loading && !bots.latest}><Loading label="Loading chatbots…" /></Match>
        <Match when={bots.latest?.length === 0}>
          <Empty title="No chatbots yet" icon={() => <Bot />}>Create one above: give it a name and a model, then shape it in the builder.</Empty>
        </Match>
        <Match when={bots.latest}>
          <div class="section-head">
            <h2 id="chatbot-list-title">{mixed() && !onlyMine() ? 'All chatbots' : 'Your chatbots'}</h2>
            <Show when={mixed()}>
              <label class="check">
                <input type="checkbox" checked={onlyMine()} onChange={(e) => setOnlyMine(e.currentTarget.checked)} />
                Only mine
              </label>
            </Show>
          </div>
          <ResponsiveTable label={mixed() && !onlyMine() ? 'All chatbots' : 'Your chatbots'}>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <Show when={mixed()}><th scope="col">Owner</th></Show>
                <th scope="col">Type</th><th scope="col">Model</th><th scope="col">Status</th><th scope="col" class="num">Collections</th>
                <th scope="col"><span class="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              <For each={shown()}>
                {(bot) => (
                  <tr>
                    <td><A href={`/chatbots/${bot.id}`}>{bot.name}</A></td>
                    <Show when={mixed()}><td data-testid="owner">{owners.name(bot.owner_id)}</td></Show>
                    <td>{TYPE_LABELS[bot.type]}</td>
                    <td><code>{bot.model}</code></td>
                    <td>{bot.is_active ? <span class="badge ok">active</span> : <span class="badge warn">inactive</span>}</td>
                    <td class="num">{bot.rag_collections.length}</td>
                    <td>
                      <ConfirmButton
                        label="Delete"
                        icon={() => <Trash />}
                        ariaLabel={`Delete ${bot.name}`}
                        title={`Delete ${bot.name}?`}
                        message={<>The chatbot and all of its conversations are deleted. Widgets and API clients using it stop working.</>}
                        confirmLabel="Delete chatbot"
                        done={`${bot.name} deleted`}
                        action={async () => {
                          await api('DELETE', `${BASE}/${bot.id}`)
                          await refetch()
                        }}
                      />
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </ResponsiveTable>
        </Match>
      </Switch>
    </section>
  )
}

function CreateForm() {
  const navigate = useNavigate()
  const [name, setName] = createSignal('')
  const [type, setType] = createSignal<ChatbotType>('assistant')
  const [model, setModel] = createSignal('')
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)
  const [models] = createResource(() => api<{ data: Model[] }>('GET', '/api-internal/v1/llm/models').then((r) => r.data))

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const bot = await api<Chatbot>('POST', BASE, { body: { name: name().trim(), type: type(), model: model() } })
      navigate(`/chatbots/${bot.id}`)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form class="card" aria-labelledby="create-title" onSubmit={(e) => void submit(e)}>
      <h2 id="create-title">New chatbot</h2>
      <div class="row">
        <Field label="Name" for="new-name">
          <input id="new-name" required maxLength={200} value={name()} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field label="Type" for="new-type">
          <select id="new-type" value={type()} onChange={(e) => setType(e.currentTarget.value as ChatbotType)}>
            <For each={CHATBOT_TYPES}>{(t) => <option value={t}>{TYPE_LABELS[t]}</option>}</For>
          </select>
        </Field>
        <ModelSelect id="new-model" models={models} value={model()} onChange={setModel} />
      </div>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <div class="actions">
        <button type="submit" disabled={busy() || !model()}><Plus /> {busy() ? 'Creating…' : 'Create chatbot'}</button>
      </div>
    </form>
  )
}
