/**
 * MCP servers: remote tool servers that agents may call. Everyone with mcp:use registers their own (public
 * addresses) and sees the shared ones; administrators see all, share theirs, and may register servers on the
 * private network. Each row can be tested (connect, initialize, list tools), its tools shown with the allow-list,
 * edited and deleted.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api } from '../api.ts'
import { useMe, type Me } from '../me.ts'
import { ConfirmButton, Empty, ErrorAlert, Gate, Loading, PageHeader } from '../ui.tsx'
import { ServerForm } from './mcp/ServerForm.tsx'
import { ToolsPanel } from './mcp/ToolsPanel.tsx'
import { SERVERS, type McpServer, type McpTest } from './mcp/types.ts'
import './McpServers.css'
import { ResponsiveTable } from '../table.tsx'
import { Plug } from '../icons.ts'

export default function McpServers() {
  const { me } = useMe()
  return (
    <section aria-labelledby="page-title" class="mcp-page">
      <Gate title="MCP servers" permission="mcp:use" what="use MCP servers">
        <Show when={me.latest}>{(user) => <Manage me={user()} />}</Show>
      </Gate>
    </section>
  )
}

type TestState = McpTest | 'running' | { failed: unknown }
/** What opens under a row: its test outcome, or its tools. */
type Open = { id: string; what: 'tools' } | null

function Manage(props: { me: Me }) {
  const isAdmin = () => props.me.permissions?.includes('mcp:admin') ?? false
  const canEdit = (s: McpServer) => isAdmin() || s.owner_id === props.me.id
  const [servers, { refetch, mutate }] = createResource(() => api<{ data: McpServer[] }>('GET', SERVERS).then((r) => r.data))
  /** null: no form; 'new': adding; a server: editing it. */
  const [form, setForm] = createSignal<McpServer | 'new' | null>(null)
  const [notice, setNotice] = createSignal<string | null>(null)
  const [tests, setTests] = createSignal<Record<string, TestState>>({})
  const [open, setOpen] = createSignal<Open>(null)

  async function test(s: McpServer) {
    setTests({ ...tests(), [s.id]: 'running' })
    try {
      setTests({ ...tests(), [s.id]: await api<McpTest>('POST', `${SERVERS}/${s.id}/test`) })
    } catch (failed) {
      setTests({ ...tests(), [s.id]: { failed } })
    }
  }
  const replace = (saved: McpServer) => mutate((list) => list?.map((s) => (s.id === saved.id ? saved : s)))

  return (
    <>
      <PageHeader title="MCP servers">
        <Show when={form() === null}>
          <button type="button" onClick={() => { setNotice(null); setForm('new') }}>Add server</button>
        </Show>
      </PageHeader>
      <p class="hint intro">
        Tools from Model Context Protocol servers, for agents: an agent names a server and, if it wants, some of its tools. Enclava connects
        through its network guard and sends the headers stored here.
      </p>
      <Show when={notice()}><p class="alert ok-note" role="status">{notice()}</p></Show>
      <Show when={form()} keyed>
        {(f) => (
          <ServerForm
            editing={f === 'new' ? null : f}
            canShare={isAdmin()}
            onCancel={() => setForm(null)}
            onSaved={(s) => {
              setForm(null)
              setNotice(`MCP server ${s.name} saved.`)
              void refetch()
            }}
          />
        )}
      </Show>

      <Switch>
        <Match when={servers.error}><ErrorAlert error={servers.error} retry={() => void refetch()} /></Match>
        <Match when={servers.loading && !servers.latest}><Loading label="Loading MCP servers…" /></Match>
        <Match when={servers.latest?.length === 0}>
          <Empty title="No MCP servers yet" icon={() => <Plug />}>Add one to give agents its tools, e.g. https://mcp.example.com/mcp.</Empty>
        </Match>
        <Match when={servers.latest}>
          {(list) => (
            <ResponsiveTable label="MCP servers">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">URL</th>
                    <th scope="col">Headers</th>
                    <th scope="col">Tools</th>
                    <th scope="col"><span class="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody>
                  <For each={list()}>
                    {(s) => (
                      <>
                        <tr>
                          <th scope="row">
                            {s.name}
                            <Show when={s.shared}> <span class="badge ok">shared</span></Show>
                            <Show when={s.private_network}> <span class="badge warn" title="Set by an administrator: may be on the private network">private network</span></Show>
                          </th>
                          <td class="url">
                            {s.url}
                            <Show when={s.transport !== 'auto'}><span class="hint block">{s.transport === 'sse' ? 'HTTP+SSE' : 'Streamable HTTP'}</span></Show>
                          </td>
                          <td>{s.header_names.length ? s.header_names.join(', ') : <span class="muted">none</span>}</td>
                          <td>{s.allowed_tools === null ? 'all' : `${s.allowed_tools.length} allowed`}</td>
                          <td>
                            <div class="actions">
                              <button type="button" class="secondary small" disabled={tests()[s.id] === 'running'} onClick={() => void test(s)} aria-label={`Test ${s.name}`}>
                                {tests()[s.id] === 'running' ? 'Testing…' : 'Test'}
                              </button>
                              <button
                                type="button"
                                class="secondary small"
                                aria-expanded={open()?.id === s.id}
                                aria-label={`Tools of ${s.name}`}
                                onClick={() => setOpen(open()?.id === s.id ? null : { id: s.id, what: 'tools' })}
                              >
                                Tools
                              </button>
                              <Show when={canEdit(s)}>
                                <button type="button" class="secondary small" onClick={() => { setNotice(null); setForm(s) }} aria-label={`Edit ${s.name}`}>Edit</button>
                                <ConfirmButton
                                  label="Delete"
                                  title={`Delete MCP server ${s.name}?`}
                                  message="Agents that name it can no longer use its tools, and its stored headers are deleted. This cannot be undone."
                                  confirmLabel="Delete server"
                                  action={async () => {
                                    await api('DELETE', `${SERVERS}/${s.id}`)
                                    setNotice(`MCP server ${s.name} deleted.`)
                                    void refetch()
                                  }}
                                />
                              </Show>
                            </div>
                          </td>
                        </tr>
                        <Show when={tests()[s.id] && tests()[s.id] !== 'running'}>
                          <tr class="detail-row">
                            <td colSpan={5}><TestOutcome name={s.name} result={tests()[s.id] as McpTest | { failed: unknown }} /></td>
                          </tr>
                        </Show>
                        <Show when={open()?.id === s.id}>
                          <tr class="detail-row">
                            <td colSpan={5}>
                              <ToolsPanel
                                server={s}
                                canEdit={canEdit(s)}
                                onSaved={(saved) => {
                                  setNotice(`Allow-list of ${saved.name} saved.`)
                                  replace(saved)
                                }}
                              />
                            </td>
                          </tr>
                        </Show>
                      </>
                    )}
                  </For>
                </tbody>

            </ResponsiveTable>
          )}
        </Match>
      </Switch>
    </>
  )
}

function TestOutcome(props: { name: string; result: McpTest | { failed: unknown } }) {
  return (
    <div role="status" class="test-outcome">
      <Show when={'failed' in props.result ? props.result : null} fallback={<Result name={props.name} result={props.result as McpTest} />}>
        {(f) => <ErrorAlert error={f().failed} />}
      </Show>
    </div>
  )
}

function Result(props: { name: string; result: McpTest }) {
  return (
    <Show when={props.result.ok} fallback={<p><span class="badge bad">failed</span> {props.name}: {props.result.error ?? 'the connection failed'}</p>}>
      <p>
        <span class="badge ok">connected</span> {props.name} answered in {props.result.latency_ms} ms
        <Show when={props.result.server}>{(info) => <> as {info().name} {info().version}</>}</Show>
        {' '}over {props.result.transport === 'sse' ? 'HTTP+SSE' : 'Streamable HTTP'} and lists {props.result.tools === 1 ? '1 tool' : `${props.result.tools ?? 0} tools`}.
      </p>
    </Show>
  )
}
