/**
 * API keys: the list with a create form at `/api-keys`, one key at `/api-keys/:id`. A new or regenerated secret is
 * kept only in the page's memory and shown once; nothing stores it.
 */
import { createResource, createSignal, Match, Show, Switch } from 'solid-js'
import { useParams } from '@solidjs/router'
import { api } from '../api.ts'
import { Empty, ErrorAlert, Loading, PageHeader } from '../ui.tsx'
import { KeyDetail } from './api-keys/KeyDetail.tsx'
import { KeyForm } from './api-keys/KeyForm.tsx'
import { KeyList } from './api-keys/KeyList.tsx'
import { useLookups } from './api-keys/lookups.ts'
import { usePermissions } from './api-keys/permissions.ts'
import { SecretOnce } from './api-keys/SecretOnce.tsx'
import { KEYS, type KeyInput, type KeyList as KeyListReply, type KeyWithSecret } from './api-keys/types.tsx'
import './api-keys/ApiKeys.css'
import { KeyRound } from '../icons.ts'

function KeysPage(props: { lookups: ReturnType<typeof useLookups>; canWrite: boolean; canSeeAll: boolean }) {
  // An administrator may list every user's keys; by default the list is one's own, as for everyone else.
  const [everyone, setEveryone] = createSignal(false)
  const [keys, { refetch }] = createResource(
    () => ({ all: everyone() }),
    ({ all }) => api<KeyListReply>('GET', `${KEYS}?limit=200${all ? '&all=true' : ''}`),
  )
  const [creating, setCreating] = createSignal(false)
  const [created, setCreated] = createSignal<{ name: string; secret: string } | null>(null)

  async function create(body: KeyInput) {
    const { key, name } = await api<KeyWithSecret>('POST', KEYS, { body })
    setCreating(false)
    setCreated({ name, secret: key })
    await refetch()
  }

  return (
    <section aria-labelledby="page-title" class="stack">
      <PageHeader title="API keys">
        <Show when={props.canWrite && !creating()}>
          <button type="button" onClick={() => { setCreated(null); setCreating(true) }}>Create key</button>
        </Show>
      </PageHeader>
      <Show when={props.canSeeAll}>
        <label class="check">
          <input type="checkbox" checked={everyone()} onChange={(e) => setEveryone(e.currentTarget.checked)} />
          Show every user's keys
        </label>
      </Show>
      <Show when={created()}>{(c) => <SecretOnce name={c().name} secret={c().secret} onDone={() => setCreated(null)} />}</Show>
      <Show when={creating()}>
        <div class="card">
          <h2>New API key</h2>
          <KeyForm lookups={props.lookups} submitLabel="Create key" onSubmit={create} onCancel={() => setCreating(false)} />
        </div>
      </Show>
      <Switch>
        <Match when={keys.error}><ErrorAlert error={keys.error} retry={refetch} /></Match>
        <Match when={!keys.latest}><Loading label="Loading API keys…" /></Match>
        <Match when={keys.latest?.data.length === 0}>
          <Empty title="No API keys yet" icon={() => <KeyRound />}>
            {props.canWrite ? 'Create a key to call the API from your own code.' : 'Your role cannot create keys.'}
          </Empty>
        </Match>
        <Match when={keys.latest}>
          {(list) => <KeyList keys={list().data} owners={everyone() ? (props.lookups.owners() ?? []) : undefined} />}
        </Match>
      </Switch>
    </section>
  )
}

export default function ApiKeys() {
  const params = useParams()
  const { can } = usePermissions()
  const lookups = useLookups(can)
  return (
    <Show when={params.id} fallback={<KeysPage lookups={lookups} canWrite={can('api_keys:write')} canSeeAll={can('api_keys:admin')} />} keyed>
      {(id) => <KeyDetail id={id} lookups={lookups} canWrite={can('api_keys:write')} />}
    </Show>
  )
}
