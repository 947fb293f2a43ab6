/** The prompt templates: name, description, latest version and variables at a glance, with delete. */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../../api.ts'
import { ConfirmButton, Empty, ErrorAlert, formatDate, Loading, PageHeader } from '../../ui.tsx'
import { PROMPTS, type Prompt } from './types.ts'
import { ResponsiveTable } from '../../table.tsx'
import { FileCode } from '../../icons.ts'

export function PromptList() {
  const [prompts, { refetch }] = createResource(() => api<{ data: Prompt[] }>('GET', PROMPTS).then((r) => r.data))
  const [notice, setNotice] = createSignal<string | null>(null)
  return (
    <>
      <PageHeader title="Prompts">
        <A class="button" href="/prompts/new">New prompt</A>
      </PageHeader>
      <p class="hint intro">
        Reusable prompt templates for the Responses API: instructions and messages with {'{{variables}}'}. Every saved change is a new version, and a
        response may name the latest or a pinned one.
      </p>
      <Show when={notice()}><p class="alert ok-note" role="status">{notice()}</p></Show>
      <Switch>
        <Match when={prompts.error}><ErrorAlert error={prompts.error} retry={() => void refetch()} /></Match>
        <Match when={prompts.loading && !prompts.latest}><Loading label="Loading prompts…" /></Match>
        <Match when={prompts.latest?.length === 0}>
          <Empty title="No prompts yet" icon={() => <FileCode />}>Create one with “New prompt”, then use it from code with its id.</Empty>
        </Match>
        <Match when={prompts.latest}>
          {(list) => (
            <ResponsiveTable label="Prompts">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Version</th>
                    <th scope="col">Variables</th>
                    <th scope="col">Updated</th>
                    <th scope="col"><span class="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody>
                  <For each={list()}>
                    {(p) => (
                      <tr>
                        <th scope="row">
                          <A href={`/prompts/${p.id}`}>{p.name}</A>
                          <Show when={p.description}><span class="hint block">{p.description}</span></Show>
                        </th>
                        <td>{p.version}</td>
                        <td>{p.variables.length ? p.variables.map((v) => v.name).join(', ') : <span class="muted">none</span>}</td>
                        <td>{formatDate(p.updated_at)}</td>
                        <td>
                          <ConfirmButton
                            label="Delete"
                            title={`Delete ${p.name}?`}
                            message="The prompt and all of its versions are deleted. Responses that name it are refused from then on. This cannot be undone."
                            confirmLabel="Delete prompt"
                            action={async () => {
                              await api('DELETE', `${PROMPTS}/${p.id}`)
                              setNotice(`Prompt ${p.name} deleted.`)
                              await refetch()
                            }}
                          />
                        </td>
                      </tr>
                    )}
                  </For>
                </tbody>

            </ResponsiveTable>
          )}
        </Match>
      </Switch>
    </>
  )
}
