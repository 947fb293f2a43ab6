import { createResource, Match, Show, Switch } from 'solid-js'
import { A, useLocation } from '@solidjs/router'
import { api, ApiError } from '../../api.ts'
import { BackLink, Empty, ErrorAlert, formatDate, Loading } from '../../ui.tsx'
import { actorName, OUTCOME_BADGE, type AuditRecord } from './model.ts'
import { ResourceCell, useResourceNames } from './names.tsx'
import { ResourceTable } from './changes.tsx'

/** One event, every field; `details` is data, shown formatted as JSON. `canSeeUsers` links user resources. */
export function EventDetail(props: { id: string; canSeeUsers: boolean }) {
  const location = useLocation()
  const names = useResourceNames()
  const [event, { refetch }] = createResource(
    () => props.id,
    (id) => api<AuditRecord>('GET', `/api-internal/v1/audit/${encodeURIComponent(id)}`),
  )
  // Back to the list with the filters the person came from.
  const back = () => `/audit-log${location.search}`
  const notFound = () => event.error instanceof ApiError && (event.error.status === 404 || event.error.status === 400)

  return (
    <section aria-labelledby="page-title">
      <BackLink href={back()} label="All events" />
      <h1 id="page-title">Audit event</h1>
      <Switch>
        <Match when={notFound()}>
          <Empty title="No such event">It may have been removed, or the link is mistyped.</Empty>
        </Match>
        <Match when={event.error}>
          <ErrorAlert error={event.error} retry={refetch} />
        </Match>
        <Match when={event.loading}>
          <Loading />
        </Match>
        <Match when={event()}>
          {(e) => (
            <div class="stack">
              <div class="card">
                <dl data-testid="event-fields">
                  <dt>Time</dt><dd>{formatDate(e().created_at)}</dd>
                  <dt>Action</dt><dd><code>{e().action}</code></dd>
                  <dt>Outcome</dt><dd><span class={`badge ${OUTCOME_BADGE[e().outcome]}`}>{e().outcome}</span></dd>
                  <dt>Actor</dt>
                  <dd>
                    {actorName(e())}
                    <Show when={e().actor_label && e().actor_email && e().actor_label !== e().actor_email}>
                      <span class="muted"> (recorded as {e().actor_label})</span>
                    </Show>
                  </dd>
                  <Show when={e().actor_user_id}><dt>Actor user id</dt><dd><code>{e().actor_user_id}</code></dd></Show>
                  <Show when={e().actor_api_key_id}><dt>API key id</dt><dd><code>{e().actor_api_key_id}</code></dd></Show>
                  <dt>Resource</dt>
                  <dd data-testid="event-resource">
                    <ResourceCell record={e()} names={names} />
                    <Show when={e().resource_id}>{(rid) => <span class="hint block"><code>{rid()}</code></span>}</Show>
                  </dd>
                  <dt>IP address</dt><dd>{e().ip ?? '—'}</dd>
                  <dt>User agent</dt><dd>{e().user_agent ?? '—'}</dd>
                  <dt>Request id</dt><dd><code>{e().request_id ?? '—'}</code></dd>
                </dl>
              </div>
              <ResourceTable details={e().details} />
              <div class="card">
                <h2 id="details-title">Details</h2>
                <Show when={Object.keys(e().details).length > 0} fallback={<p class="muted">This event records no further details.</p>}>
                  <pre aria-labelledby="details-title" data-testid="event-details">{JSON.stringify(e().details, null, 2)}</pre>
                </Show>
              </div>
            </div>
          )}
        </Match>
      </Switch>
    </section>
  )
}
