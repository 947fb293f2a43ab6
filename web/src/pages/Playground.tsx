/**
 * The LLM playground: chat (streamed) and embeddings against the models the signed-in user may use, on the
 * internal API and charged to the user's budgets. Each request can be shown as code for the public API.
 */
import { createEffect, createResource, createSignal, Match, Switch } from 'solid-js'
import { api } from '../api.ts'
import { Cpu, Send } from '../icons.ts'
import { useMe } from '../me.ts'
import { Tabs } from '../tabs.tsx'
import { Empty, ErrorAlert, Gate, Loading, PageHeader } from '../ui.tsx'
import { Chat } from './playground/Chat.tsx'
import { Embeddings } from './playground/Embeddings.tsx'
import { ModelPicker } from './playground/ModelPicker.tsx'
import { looksLikeEmbedding, type PlaygroundModel } from './playground/models.ts'
import './Playground.css'

type Tab = 'chat' | 'embeddings'
const TABS = [
  { id: 'chat', label: 'Chat', icon: () => <Send /> },
  { id: 'embeddings', label: 'Embeddings', icon: () => <Cpu /> },
] as const

export default function Playground() {
  return (
    <section aria-labelledby="page-title" class="playground">
      <Gate title="Playground" permission="llm:use" what="use the playground">
        <Models />
      </Gate>
    </section>
  )
}

function Models() {
  const { can } = useMe()
  const [models, { refetch }] = createResource(
    () => can('llm:use') || undefined,
    () => api<{ data: PlaygroundModel[] }>('GET', '/api-internal/v1/llm/models').then((r) => r.data),
  )
  const [tab, setTab] = createSignal<Tab>('chat')
  const [chatModel, setChatModel] = createSignal('')
  const [embedModel, setEmbedModel] = createSignal('')

  // Sensible first choices: a chat model for chat, an embedding model for embeddings (by name; see models.ts).
  createEffect(() => {
    const list = models.latest
    if (!list?.length) return
    if (!list.some((m) => m.id === chatModel())) setChatModel((list.find((m) => !looksLikeEmbedding(m.id)) ?? list[0])?.id ?? '')
    if (!list.some((m) => m.id === embedModel())) setEmbedModel((list.find((m) => looksLikeEmbedding(m.id)) ?? list[0])?.id ?? '')
  })
  const find = (id: string) => models.latest?.find((m) => m.id === id)

  return (
    <>
      <PageHeader title="Playground" description="Try the models you may use. Requests are charged to you, under your budgets, and can be copied as code for the API." />
      <Switch>
        <Match when={models.error}>
          <ErrorAlert error={models.error} retry={() => void refetch()} />
        </Match>
        <Match when={models.latest?.length === 0}>
          <Empty title="No models available" icon={() => <Cpu />}>
            No provider offers a model you may use. An administrator can add a provider under Providers.
          </Empty>
        </Match>
        <Match when={models.latest}>
          {(list) => (
            <>
              <Tabs label="Playground mode" tabs={TABS} value={tab()} onChange={setTab} />
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
        <Match when={true}>
          <Loading label="Loading models…" />
        </Match>
      </Switch>
    </>
  )
}
