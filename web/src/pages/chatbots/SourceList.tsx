import { For } from 'solid-js'
import type { Source } from './types.ts'

/** The passages an answer was given, numbered as the model saw them (so a citation [n] matches entry n). */
export function SourceList(props: { sources: Source[] }) {
  return (
    <details class="sources">
      <summary>Sources ({props.sources.length})</summary>
      <ol>
        <For each={props.sources}>
          {(s) => (
            <li value={s.index}>
              <strong>{s.document_name}</strong> <span class="muted">score {s.score.toFixed(3)}</span>
              <p class="snippet">{s.snippet}</p>
            </li>
          )}
        </For>
      </ol>
    </details>
  )
}
