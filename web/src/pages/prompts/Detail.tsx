/**
 * One prompt template: its editor, its versions (any one viewable, or loaded into the editor) and the code that
 * uses it. The prompt is loaded once here; a save updates the version shown everywhere.
 */
import { createResource, createSignal, Match, Switch } from 'solid-js'
import { A, useNavigate } from '@solidjs/router'
import { api } from '../../api.ts'
import { BackLink, ConfirmButton, ErrorAlert, Loading, PageHeader } from '../../ui.tsx'
import { fromPrompt, type PromptFormState } from './form.ts'
import { PromptForm } from './PromptForm.tsx'
import { PROMPTS, type Prompt } from './types.ts'
import { Usage } from './Usage.tsx'
import { Versions } from './Versions.tsx'

export function PromptDetail(props: { id: string }) {
  const [prompt, { mutate, refetch }] = createResource(() => props.id, (id) => api<Prompt>('GET', `${PROMPTS}/${id}`))
  const [saves, setSaves] = createSignal(0)
  const [load, setLoad] = createSignal<PromptFormState | null>(null)
  const navigate = useNavigate()
  return (
    <>
      <BackLink href="/prompts" label="All prompts" />
      <Switch>
        <Match when={prompt.error}>
          <PageHeader title="Prompt" />
          <ErrorAlert error={prompt.error} retry={() => void refetch()} />
        </Match>
        <Match when={prompt.latest}>
          {(p) => (
            <>
              <PageHeader title={p().name}>
                <span class="badge ok" title="The latest version">version {p().version}</span>
                <ConfirmButton
                  label="Delete prompt"
                  title={`Delete ${p().name}?`}
                  message="The prompt and all of its versions are deleted. Responses that name it are refused from then on. This cannot be undone."
                  action={async () => {
                    await api('DELETE', `${PROMPTS}/${p().id}`)
                    navigate('/prompts')
                  }}
                />
              </PageHeader>
              <p class="hint id-line">Id <code>{p().id}</code></p>
              <div class="prompt-builder">
                <PromptForm
                  prompt={p()}
                  load={load()}
                  onSaved={(saved) => {
                    mutate(saved)
                    setSaves(saves() + 1)
                  }}
                />
                <Versions
                  promptId={p().id}
                  latest={p().version}
                  reload={saves()}
                  onLoad={(v) => {
                    setLoad(fromPrompt({ ...v, name: p().name, description: p().description }))
                    document.getElementById('pf-title')?.scrollIntoView({ behavior: 'smooth' })
                  }}
                />
              </div>
              <Usage prompt={p()} />
            </>
          )}
        </Match>
        <Match when={prompt.loading}><Loading label="Loading prompt…" /></Match>
      </Switch>
    </>
  )
}
