/**
 * One chatbot: its settings beside a live test chat, its conversations, and the widget snippet, as tabs. The
 * chatbot is loaded once here and handed down, so a save is seen by every tab.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A, useNavigate } from '@solidjs/router'
import { api } from '../../api.ts'
import { ConfirmButton, ErrorAlert, Loading, PageHeader } from '../../ui.tsx'
import { BASE, type Chatbot } from './types.ts'
import { SettingsForm } from './SettingsForm.tsx'
import { TestChat } from './TestChat.tsx'
import { ConversationsView } from './Conversations.tsx'
import { WidgetView } from './Widget.tsx'

const TABS = [
  { id: 'build', label: 'Build and test' },
  { id: 'conversations', label: 'Conversations' },
  { id: 'widget', label: 'Embed widget' },
] as const
type Tab = (typeof TABS)[number]['id']

export function ChatbotBuilder(props: { id: string }) {
  const [bot, { mutate, refetch }] = createResource(() => props.id, (id) => api<Chatbot>('GET', `${BASE}/${id}`))
  const [tab, setTab] = createSignal<Tab>('build')
  const [dirty, setDirty] = createSignal(false)
  const navigate = useNavigate()

  // Arrow keys move between tabs, as the ARIA tabs pattern expects.
  function onTabKey(e: KeyboardEvent, index: number) {
    const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0
    if (!step) return
    e.preventDefault()
    const next = TABS[(index + step + TABS.length) % TABS.length]
    if (!next) return
    setTab(next.id)
    document.getElementById(`tab-${next.id}`)?.focus()
  }

  return (
    <section aria-labelledby="page-title" class="stack chatbots-page">
      <p class="back"><A href="/chatbots">← All chatbots</A></p>
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
                  title={`Delete ${b().name}?`}
                  message={<>The chatbot and all of its conversations are deleted. Widgets and API clients using it stop working.</>}
                  action={async () => {
                    await api('DELETE', `${BASE}/${b().id}`)
                    navigate('/chatbots')
                  }}
                />
              </PageHeader>
              <div role="tablist" aria-label="Chatbot sections" class="tabs">
                <For each={TABS}>
                  {(t, i) => (
                    <button
                      type="button"
                      role="tab"
                      id={`tab-${t.id}`}
                      aria-selected={tab() === t.id}
                      aria-controls={`panel-${t.id}`}
                      tabIndex={tab() === t.id ? 0 : -1}
                      class={tab() === t.id ? 'tab selected' : 'tab'}
                      onClick={() => setTab(t.id)}
                      onKeyDown={(e) => onTabKey(e, i())}
                    >
                      {t.label}
                    </button>
                  )}
                </For>
              </div>
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
