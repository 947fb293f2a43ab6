/**
 * Prompt templates for the Responses API: the list (`/prompts`), a new prompt's form (`/prompts/new`; ids are
 * `pmpt_…`, so it never collides) and one prompt with its versions and usage (`/prompts/:id`). Needs llm:use.
 */
import { Match, Switch } from 'solid-js'
import { useNavigate, useParams } from '@solidjs/router'
import { Gate, PageHeader } from '../ui.tsx'
import { PromptDetail } from './prompts/Detail.tsx'
import { PromptForm } from './prompts/PromptForm.tsx'
import { PromptList } from './prompts/List.tsx'
import './Prompts.css'

export default function Prompts() {
  return (
    <section aria-labelledby="page-title" class="stack prompts-page">
      <Gate title="Prompts" permission="llm:use" what="use prompts">
        <Route />
      </Gate>
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
        <PageHeader title="New prompt" back={{ href: '/prompts', label: 'All prompts' }} />
        <PromptForm prompt={null} onSaved={(p) => navigate(`/prompts/${p.id}`)} onCancel={() => navigate('/prompts')} />
      </Match>
      {/* Keyed: another prompt's id starts afresh instead of reusing this one's form state. */}
      <Match when={params.id} keyed>{(id) => <PromptDetail id={id} />}</Match>
    </Switch>
  )
}
