import { Match, Switch, type JSX } from 'solid-js'
import { useNavigate, useParams } from '@solidjs/router'
import { PageHeader } from './ui.tsx'

/**
 * A section of one kind of thing under `base`: the list, a new one's form at `base/new` (ids are UUIDs or prefixed,
 * so "new" never collides with one), and one of them at `base/:id`, keyed so that another id starts afresh instead
 * of reusing the previous one's form state.
 */
export function ResourceRoutes<T extends { id: string }>(props: {
  base: string
  /** The new one's page title, e.g. "New agent"; the back link reads `all`. */
  newTitle: string
  all: string
  list: () => JSX.Element
  form: (saved: (item: T) => void, cancel: () => void) => JSX.Element
  detail: (id: string) => JSX.Element
}) {
  const params = useParams()
  const navigate = useNavigate()
  return (
    <Switch>
      <Match when={!params.id}>{props.list()}</Match>
      <Match when={params.id === 'new'}>
        <PageHeader title={props.newTitle} back={{ href: props.base, label: props.all }} />
        {props.form((item) => navigate(`${props.base}/${item.id}`), () => navigate(props.base))}
      </Match>
      <Match when={params.id} keyed>
        {(id) => props.detail(id)}
      </Match>
    </Switch>
  )
}
