/**
 * The LLM playground: chat (streamed) and embeddings against the models the signed-in user may use, on the
 * internal API and charged to the user's budgets. Each request can be shown as code for the public API.
 */
import { createEffect, createResource, createSignal, Match, Switch } from 'solid-js'
import { api } from '../api.ts'
import type { User } from '../session.ts'
import { Empty, ErrorAlert, Loading, PageHeader } from '../ui.tsx'
import { Chat } from './playground/Chat.tsx'
import { Embeddings } from './playground/Embeddings.tsx'
import { ModelPicker } from './playground/ModelPicker.tsx'
import { looksLikeEmbedding, type PlaygroundModel } from './playground/models.ts'
import './Playground.css'

type Tab = 'chat' | 'embeddings'
const TABS: { id: Tab; label: string }[] = [
  { id: 'chat', label: 'Chat' },
  { id: 'embeddings', label: 'Embeddings' },
]

export default function Playground() {
  // Permission first, so a read-only account sees a notice instead of provoking a refused request.
  const [me] = createResource(() => api<User>('GET', '/api-internal/v1/auth/me'))
  const allowed = () => me()?.permissions?.includes('llm:use') ?? false
  const [models, { refetch }] = createResource(
    () => allowed() || undefined,
    () => api<{ data: PlaygroundModel[] }>('GET', '/api-internal/v1/llm/models').then((r) => r.data),
  )
  const [tab, setTab] = createSignal<Tab>('chat')
  const [chatModel, setChatModel] = createSignal('')
  const [embedModel, setEmbedModel] = createSignal('')

  // Sensible first choices: a chat model for chat, an embedding model for embeddings (by name; see models.ts).
  createEffect(() => {
    const list = models()
    if (!list?.length) return
    if (!list.some((m) => m.id === chatModel())) setChatModel((list.find((m) => !looksLikeEmbedding(m.id)) ?? list[0])?.id ?? '')
    if (!list.some((m) => m.id === embedModel())) setEmbedModel((list.find((m) => looksLikeEmbedding(m.id)) ?? list[0])?.id ?? '')
  })
  const find = (id: string) => models()?.find((m) => m.id === id)

  /** Arrow keys move between tabs, as the ARIA tabs pattern expects. */
  function onTabKey(e: KeyboardEvent) {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return
    const i = TABS.findIndex((t) => t.id === tab())
    const next = TABS[(i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length]
    if (!next) return
    setTab(next.id)
    document.getElementById(`tab-${next.id}`)?.focus()
  }

  return (
    <section aria-labelledby="page-title" class="playground">
      <PageHeader title="Playground" />
      <Switch>
        <Match when={me.error}>
          <ErrorAlert error={me.error} />
        </Match>
        <Match when={me() && !allowed()}>
          <Empty title="You do not have permission to use the playground">
            Your account may not send requests to models. Ask an administrator for a role that includes it.
          </Empty>
        </Match>
        <Match when={models.error}>
          <ErrorAlert error={models.error} retry={() => void refetch()} />
        </Match>
        <Match when={me.loading || models.loading}>
          <Loading label="Loading models…" />
        </Match>
        <Match when={models()?.length === 0}>
          <Empty title="No models available">
            No provider offers a model you may use. An administrator can add a provider under Providers.
          </Empty>
        </Match>
        <Match when={models()}>
          {(list) => (
            <>
              <div class="tabs" role="tablist" aria-label="Playground mode" onKeyDown={onTabKey}>
                {TABS.map((t) => (
                  <button
                    type="button"
                    role="tab"
                    id={`tab-${t.id}`}
                    class="tab"
                    aria-selected={tab() === t.id}
                    aria-controls={`panel-${t.id}`}
                    tabIndex={tab() === t.id ? 0 : -1}
                    onClick={() => setTab(t.id)}
                  >
                    {t.label}
                  </button>
                ))}
              </div>
              <div role="tabpanel" id="panel-chat" aria-labelledby="tab-chat" hidden={tab() !== 'chat'} class="stack">
                <ModelPicker id="chat-model" models={list()} value={chatModel()} onChange={setChatModel} />
                <Chat model={() => find(chatModel())} />
              </div>
              <div role="tabpanel" id="panel-embeddings" aria-labelledby="tab-embeddings" hidden={tab() !== 'embeddings'} class="stack">
                <ModelPicker id="embed-model" models={list()} value={embedModel()} onChange={setEmbedModel} />
                <Embeddings model={() => find(embedModel())} />
              </div>
            </>
          )}
        </Match>
      </Switch>
    </section>
  )
}
