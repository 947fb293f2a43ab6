/**
 * The template's lists: messages put before the input (few-shot examples, with a role each) and the variables the
 * template declares. Each row shows the server's message about it beside it.
 */
import { For, Show } from 'solid-js'
import { Field } from '../../ui.tsx'
import { FieldError } from '../chatbots/FieldError.tsx'
import type { MessageDraft, VariableDraft } from './form.ts'
import { ROLES, type Role } from './types.ts'

interface ListProps<T> {
  items: T[]
  errors: Record<number, string>
  /** About the list as a whole (an undeclared {{variable}}, say). */
  error: string | undefined
  add: () => void
  update: (index: number, patch: Partial<T>) => void
  remove: (index: number) => void
}

export function MessagesEditor(props: ListProps<MessageDraft>) {
  return (
    <fieldset class="list-editor" aria-describedby={props.error ? 'pf-messages-error' : undefined}>
      <legend>Messages</legend>
      <p class="hint">Put before the input, e.g. examples of a question and the answer you want. {'{{variables}}'} work here too.</p>
      <For each={props.items}>
        {(m, i) => (
          <div class="list-row" role="group" aria-label={`Message ${i() + 1}`}>
            <div class="row">
              <Field label="Role" for={`pf-m-${m.key}-role`}>
                <select id={`pf-m-${m.key}-role`} value={m.role} onChange={(e) => props.update(i(), { role: e.currentTarget.value as Role })}>
                  <For each={ROLES}>{(r) => <option value={r}>{r}</option>}</For>
                </select>
              </Field>
              <div class="field shrink">
                <button type="button" class="secondary small" onClick={() => props.remove(i())} aria-label={`Remove message ${i() + 1}`}>Remove</button>
              </div>
            </div>
            <Field label="Content" for={`pf-m-${m.key}-content`}>
              <textarea
                id={`pf-m-${m.key}-content`}
                rows={3}
                maxLength={100000}
                value={m.content}
                onInput={(e) => props.update(i(), { content: e.currentTarget.value })}
                aria-invalid={props.errors[i()] ? 'true' : undefined}
                aria-describedby={props.errors[i()] ? `pf-m-${m.key}-error` : undefined}
              />
            </Field>
            <FieldError id={`pf-m-${m.key}`} error={props.errors[i()]} />
          </div>
        )}
      </For>
      <FieldError id="pf-messages" error={props.error} />
      <button type="button" class="secondary small" onClick={() => props.add()}>Add message</button>
    </fieldset>
  )
}

export function VariablesEditor(props: ListProps<VariableDraft>) {
  return (
    <fieldset class="list-editor" aria-describedby={props.error ? 'pf-variables-error' : undefined}>
      <legend>Variables</legend>
      <p class="hint">Used as {'{{name}}'} in the instructions and messages; a response passes their values. Any other {'{{name}}'} is refused.</p>
      <Show when={props.items.length === 0}><p class="muted">No variables.</p></Show>
      <For each={props.items}>
        {(v, i) => (
          <div class="list-row" role="group" aria-label={`Variable ${i() + 1}`}>
            <div class="row">
              <Field label="Name" for={`pf-v-${v.key}-name`}>
                <input
                  id={`pf-v-${v.key}-name`}
                  value={v.name}
                  autocomplete="off"
                  onInput={(e) => props.update(i(), { name: e.currentTarget.value })}
                  aria-invalid={props.errors[i()] ? 'true' : undefined}
                  aria-describedby={props.errors[i()] ? `pf-v-${v.key}-error` : undefined}
                />
              </Field>
              <Field label="Description" for={`pf-v-${v.key}-description`}>
                <input id={`pf-v-${v.key}-description`} value={v.description} maxLength={500} onInput={(e) => props.update(i(), { description: e.currentTarget.value })} />
              </Field>
              <Field label="Default" for={`pf-v-${v.key}-default`} hint="Empty: a value is required.">
                <input id={`pf-v-${v.key}-default`} value={v.default} onInput={(e) => props.update(i(), { default: e.currentTarget.value })} aria-describedby={`pf-v-${v.key}-default-hint`} />
              </Field>
              <div class="field shrink">
                <button type="button" class="secondary small" onClick={() => props.remove(i())} aria-label={`Remove variable ${i() + 1}`}>Remove</button>
              </div>
            </div>
            <FieldError id={`pf-v-${v.key}`} error={props.errors[i()]} />
          </div>
        )}
      </For>
      <FieldError id="pf-variables" error={props.error} />
      <button type="button" class="secondary small" onClick={() => props.add()}>Add variable</button>
    </fieldset>
  )
}
