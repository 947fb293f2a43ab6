/**
 * One chatbot: its settings beside a live test chat, its conversations, and the widget snippet, as tabs. The
 * chatbot is loaded once here and handed down, so a save is seen by every tab.
 */
import { createResource, createSignal, Match, Show, Switch } from 'solid-js'
import { useNavigate } from '@solidjs/router'
import { api } from '../../api.ts'
import { BackLink, ConfirmButton, ErrorAlert, Loading, PageHeader } from '../../ui.tsx'
import { BASE, type Chatbot } from './types.ts'
import { SettingsForm } from './SettingsForm.tsx'
import { TestChat } from './TestChat.tsx'
import { ConversationsView } from './Conversations.tsx'
import { WidgetView } from './Widget.tsx'
import { ApiView } from './ApiView.tsx'
import { Tabs } from '../../tabs.tsx'
import { Trash } from '../../icons.ts'

const TABS = [
  { id: 'build', label: 'Build and test' },
  { id: 'conversations', label: 'Conversations' },
  { id: 'api', label: 'API' },
  { id: 'widget', label: 'Embed widget' },
] as const
type Tab = (typeof TABS)[number]['id']

export function ChatbotBuilder(props: { id: string }) {
  const [bot, { mutate, refetch }] = createResource(() => props.id, (id) => api<Chatbot>('GET', `${BASE}/${id}`))
  const [tab, setTab] = createSignal<Tab>('build')
  const [dirty, setDirty] = createSignal(false)
  const navigate = useNavigate()

  return (
    <section aria-labelledby="page-title" class="stack chatbots-page">
      <BackLink href="/chatbots" label="All chatbots" />
      <Switch>
        <Match when={bot.error}>
          <PageHeader title="Chatbot" />
          <ErrorAlert error={bot.error} retry={() => void refetch()} />
        </Match>
        <Match when={bot.latest}>
          {(b) => (
            <>
              <PageHeader title={b().name}>
                {b().is_active ? <span class="badge ok">active</span> : <span class="badge warn">inactive</span>}
                <ConfirmButton
                  label="Delete chatbot"
                  class="danger"
                  icon={() => <Trash />}
                  title={`Delete ${b().name}?`}
                  message={<>The chatbot and all of its conversations are deleted. Widgets and API clients using it stop working.</>}
                  action={async () => {
                    await api('DELETE', `${BASE}/${b().id}`)
                    navigate('/chatbots')
                  }}
                />
              </PageHeader>
              <Tabs label="Chatbot sections" tabs={TABS} value={tab()} onChange={setTab} />
              {/* The build panel stays mounted so unsaved edits and the test chat survive a look at another tab. */}
              <div role="tabpanel" id="panel-build" aria-labelledby="tab-build" hidden={tab() !== 'build'} class="builder">
                <SettingsForm bot={b()} onSaved={(saved) => mutate(saved)} onDirty={setDirty} />
                <TestChat bot={b()} unsaved={dirty()} />
              </div>
              <Show when={tab() === 'conversations'}>
                <div role="tabpanel" id="panel-conversations" aria-labelledby="tab-conversations">
                  <ConversationsView bot={b()} />
                </div>
              </Show>
              <Show when={tab() === 'api'}>
                <div role="tabpanel" id="panel-api" aria-labelledby="tab-api">
                  <ApiView bot={b()} />
                </div>
              </Show>
              <Show when={tab() === 'widget'}>
                <div role="tabpanel" id="panel-widget" aria-labelledby="tab-widget">
                  <WidgetView bot={b()} />
                </div>
              </Show>
            </>
          )}
        </Match>
        <Match when={bot.loading}><Loading label="Loading chatbot…" /></Match>
      </Switch>
    </section>
  )
}
