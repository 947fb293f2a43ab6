import { CopyButton } from '../../ui.tsx'

/** A generated password, shown this once: the server keeps only its hash. */
export function PasswordOnce(props: { password: string }) {
  return (
    <>
      <p class="muted">Give it to them over a safe channel. It is shown only now; they must change it when they first sign in.</p>
      <div class="row users-secret-row">
        <code class="secret" data-testid="temporary-password">{props.password}</code>
        <CopyButton text={props.password} label="Copy password" />
      </div>
    </>
  )
}

export function TemporaryPassword(props: { password: string; who: string; onDismiss: () => void }) {
  return (
    <div class="card" role="status" aria-labelledby="temp-title">
      <h2 id="temp-title">Temporary password for {props.who}</h2>
      <PasswordOnce password={props.password} />
      <div class="actions">
        <button class="secondary small" type="button" onClick={() => props.onDismiss()}>Done</button>
      </div>
    </div>
  )
}
