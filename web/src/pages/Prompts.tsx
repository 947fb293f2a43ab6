/**
 * Prompt templates for the Responses API: the list (`/prompts`), a new prompt's form (`/prompts/new`; ids are
 * `pmpt_…`, so it never collides) and one prompt with its versions and usage (`/prompts/:id`). Needs llm:use.
 */
import { createResource, Match, Switch } from 'solid-js'
import { useNavigate, useParams } from '@solidjs/router'
import { api } from '../api.ts'
import type { User } from '../session.ts'
import { Empty, ErrorAlert, Loading, PageHeader } from '../ui.tsx'
import { PromptDetail } from './prompts/Detail.tsx'
import { PromptForm } from './prompts/PromptForm.tsx'
import { PromptList } from './prompts/List.tsx'
import './Prompts.css'

export default function Prompts() {
  const [me] = createResource(() => api<User>('GET', '/api-internal/v1/auth/me'))
  const allowed = () => me()?.permissions?.includes('llm:use') ?? false
  return (
    <section aria-labelledby="page-title" class="stack prompts-page">
      <Switch>
        <Match when={me.error}>
          <PageHeader title="Prompts" />
          <ErrorAlert error={me.error} />
        </Match>
        <Match when={me.loading}>
          <PageHeader title="Prompts" />
          <Loading />
        </Match>
        <Match when={!allowed()}>
          <PageHeader title="Prompts" />
          <Empty title="You do not have permission to use prompts">Ask an administrator for a role that includes model use.</Empty>
        </Match>
        <Match when={true}><Route /></Match>
      </Switch>
    </section>
  )
}

function Route() {
  const params = useParams()
  const navigate = useNavigate()
  return (
    <Switch>
      <Match when={!params.id}><PromptList /></Match>
      <Match when={params.id === 'new'}>
        <PageHeader title="New prompt" />
        <PromptForm prompt={null} onSaved={(p) => navigate(`/prompts/${p.id}`)} onCancel={() => navigate('/prompts')} />
      </Match>
      {/* Keyed: another prompt's id starts afresh instead of reusing this one's form state. */}
      <Match when={params.id} keyed>{(id) => <PromptDetail id={id} />}</Match>
    </Switch>
  )
}
