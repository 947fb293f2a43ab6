import { onMount } from 'solid-js'
import { CopyButton } from '../../ui.tsx'

/**
 * The one time a key's secret is on screen. It lives only in the component that received it from the server:
 * nothing stores it, so leaving the page or reloading it loses it for good, as the notice says.
 */
export function SecretOnce(props: { name: string; secret: string; regenerated?: boolean; onDone: () => void }) {
  let heading: HTMLHeadingElement | undefined
  // Focus moves here so keyboard and screen-reader users land on the secret, not on the form they just left.
  onMount(() => heading?.focus())
  return (
    <section class="card secret-once" aria-labelledby="secret-title">
      <h2 id="secret-title" tabindex="-1" ref={heading}>
        {props.regenerated ? `New secret for "${props.name}"` : `API key "${props.name}" created`}
      </h2>
      <p class="alert warning" role="note">
        <strong>Copy this secret now. You will not see it again.</strong> Enclava stores only a hash of it; if it is
        lost, regenerate the key.
      </p>
      <div class="secret-row">
        <code class="secret" data-testid="new-secret" aria-label="API key secret">{props.secret}</code>
        <CopyButton text={props.secret} label="Copy secret" />
      </div>
      <div class="actions">
        <button type="button" onClick={() => props.onDone()}>I have copied it</button>
      </div>
    </section>
  )
}
