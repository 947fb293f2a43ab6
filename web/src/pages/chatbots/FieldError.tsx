import { Show } from 'solid-js'

/** A field's validation message; its id (`<control id>-error`) is what the control's aria-describedby names. */
export function FieldError(props: { id: string; error: string | undefined }) {
  return (
    <Show when={props.error}>
      <p class="field-error" id={`${props.id}-error`}>{props.error}</p>
    </Show>
  )
}
