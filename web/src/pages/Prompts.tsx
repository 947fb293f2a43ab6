/**
 * Prompt templates for the Responses API: the list (`/prompts`), a new prompt's form (`/prompts/new`; ids are
 * `pmpt_…`, so it never collides) and one prompt with its versions and usage (`/prompts/:id`). Needs llm:use.
 */
import { ResourceRoutes } from '../resource.tsx'
import { Gate } from '../ui.tsx'
import { PromptDetail } from './prompts/Detail.tsx'
import { PromptForm } from './prompts/PromptForm.tsx'
import { PromptList } from './prompts/List.tsx'
import './Prompts.css'

export default function Prompts() {
  return (
    <section aria-labelledby="page-title" class="stack prompts-page">
      <Gate title="Prompts" permission="llm:use" what="use prompts">
        <ResourceRoutes
          base="/prompts"
          newTitle="New prompt"
          all="All prompts"
          list={() => <PromptList />}
          form={(saved, cancel) => <PromptForm prompt={null} onSaved={saved} onCancel={cancel} />}
          detail={(id) => <PromptDetail id={id} />}
        />
      </Gate>
    </section>
  )
}
