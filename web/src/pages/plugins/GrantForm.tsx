/**
 * What the plugin asks for, in plain words, and the grant an administrator gives. Everything starts unticked
 * (deny by default) unless it was granted before. The platform enables a plugin only with a grant that covers its
 * whole request; the administrator may add to it (hosts, models, a bigger budget or quota). Its tools are the
 * administrator's choice alone: agents may use those ticked here, none otherwise.
 */
import { createSignal, For, Show } from 'solid-js'
import { createStore } from 'solid-js/store'
import { api } from '../../api.ts'
import { ErrorAlert, formatNumber } from '../../ui.tsx'
import { schemaFields } from './schema.ts'
import { grantCovers, LIMIT_CAPS, LIMIT_NAMES, pluginPath, routeAccess, routeUrl, type Grant, type GrantedLimits, type Plugin } from './types.tsx'

const lines = (text: string) => [...new Set(text.split(/[\n,]/).map((l) => l.trim()).filter(Boolean))]

interface GrantState {
  net: boolean
  hosts: string
  llm: boolean
  models: string
  budget: string
  rag: boolean
  chatbots: boolean
  kv: boolean
  quota: string
  secrets: Record<string, boolean>
  limits: boolean
  limit: Record<keyof GrantedLimits, string>
  /** Tool name -> agents may use it. */
  tools: Record<string, boolean>
}

const LIMIT_WORDS: Record<keyof GrantedLimits, { label: string; unit: string }> = {
  memory_mb: { label: 'Memory', unit: 'MB' },
  cpu_ms: { label: 'CPU time per call', unit: 'ms' },
  wall_ms: { label: 'Time per call (or cron run)', unit: 'ms' },
}

function initialState(p: Plugin): GrantState {
  const req = p.requested_permissions
  const had = p.granted_permissions
  return {
    net: had?.net !== undefined,
    hosts: (had?.net ?? req.net ?? []).join('\n'),
    llm: had?.llm !== undefined,
    models: (had?.llm?.models ?? req.llm?.models ?? []).join('\n'),
    budget: String(had?.llm?.budget_usd ?? req.llm?.budget_usd ?? ''),
    rag: had?.rag !== undefined,
    chatbots: had?.chatbots !== undefined,
    kv: had?.kv !== undefined,
    quota: String(had?.kv?.quota_kb ?? req.kv?.quota_kb ?? ''),
    secrets: Object.fromEntries((req.secrets ?? []).map((s) => [s, had?.secrets?.includes(s) ?? false])),
    limits: had?.limits !== undefined,
    limit: {
      memory_mb: String(had?.limits?.memory_mb ?? p.requested_limits.memory_mb ?? ''),
      cpu_ms: String(had?.limits?.cpu_ms ?? p.requested_limits.cpu_ms ?? ''),
      wall_ms: String(had?.limits?.wall_ms ?? p.requested_limits.wall_ms ?? ''),
    },
    tools: Object.fromEntries(p.tools.map((t) => [t.name, had?.tools?.includes(t.name) ?? false])),
  }
}

const asksLimits = (p: Plugin) => LIMIT_NAMES.some((k) => p.requested_limits[k] !== undefined)

function buildGrant(p: Plugin, s: GrantState): Grant {
  const req = p.requested_permissions
  const grant: Grant = {}
  if (req.net !== undefined && s.net) grant.net = lines(s.hosts)
  if (req.llm && s.llm) grant.llm = { models: lines(s.models), budget_usd: Number(s.budget) }
  if (req.rag && s.rag) grant.rag = req.rag
  if (req.chatbots && s.chatbots) grant.chatbots = req.chatbots
  if (req.kv && s.kv) grant.kv = { quota_kb: Number(s.quota) }
  const secrets = Object.entries(s.secrets).filter(([, on]) => on).map(([k]) => k)
  if (secrets.length) grant.secrets = secrets
  if (asksLimits(p) && s.limits) {
    const limits: GrantedLimits = {}
    for (const k of LIMIT_NAMES) if (p.requested_limits[k] !== undefined && s.limit[k] !== '') limits[k] = Number(s.limit[k])
    grant.limits = limits
  }
  const tools = p.tools.filter((t) => s.tools[t.name]).map((t) => t.name)
  if (tools.length) grant.tools = tools
  return grant
}

/** What is still missing from the grant, named for the person who must tick it. */
function missing(p: Plugin, s: GrantState, grant: Grant): string[] {
  const req = p.requested_permissions
  const out: string[] = []
  if ((req.net?.length ?? 0) > 0 && !(req.net ?? []).every((h) => grant.net?.includes(h))) out.push(`network access to ${req.net?.join(', ')}`)
  if (req.llm) {
    if (!s.llm) out.push('language models')
    else if (!req.llm.models.every((m) => grant.llm?.models.includes(m))) out.push(`the models ${req.llm.models.join(', ')}`)
    else if (!(Number(s.budget) >= req.llm.budget_usd)) out.push(`a monthly budget of at least $${req.llm.budget_usd}`)
  }
  if (req.rag && !s.rag) out.push('document search')
  if (req.chatbots && !s.chatbots) out.push('chatbots')
  if (req.kv) {
    if (!s.kv) out.push('its own storage')
    else if (!(Number(s.quota) >= req.kv.quota_kb)) out.push(`storage of at least ${formatNumber(req.kv.quota_kb)} KB`)
  }
  for (const secret of req.secrets ?? []) if (!s.secrets[secret]) out.push(`the secret setting "${secret}"`)
  for (const k of LIMIT_NAMES) {
    const asked = p.requested_limits[k]
    if (asked !== undefined && !((grant.limits?.[k] ?? 0) >= asked)) out.push(`${LIMIT_WORDS[k].label.toLowerCase()} of at least ${formatNumber(asked)} ${LIMIT_WORDS[k].unit}`)
  }
  return out
}

export function GrantForm(props: { plugin: Plugin; changed: (p: Plugin) => void }) {
  const p = () => props.plugin
  const req = () => props.plugin.requested_permissions
  const [state, setState] = createStore<GrantState>(initialState(props.plugin))
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)
  const [problem, setProblem] = createSignal<string | null>(null)
  const [done, setDone] = createSignal<string | null>(null)
  const secretTitle = (key: string) => schemaFields(p().config_schema).find((f) => f.key === key)?.label ?? key
  const asksNothing = () => Object.keys(req()).length === 0 && !asksLimits(p())

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    setError(null)
    setProblem(null)
    setDone(null)
    const grant = buildGrant(p(), state)
    const lacking = missing(p(), state, grant)
    if (lacking.length > 0 || !grantCovers(grant, req(), p().requested_limits)) {
      setProblem(`The platform enables a plugin only with everything it asks for. Still to allow: ${lacking.join('; ') || 'the requested permissions'}.`)
      return
    }
    setBusy(true)
    const wasEnabled = p().enabled
    try {
      const next = await api<Plugin>('POST', `${pluginPath(p().name)}/enable`, { body: { grant } })
      props.changed(next)
      setDone(wasEnabled ? 'Grant saved; the plugin is enabled.' : 'Plugin enabled.')
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <section class="card" aria-labelledby="grant-title">
      <h2 id="grant-title">Permissions</h2>
      <p class="muted">
        A plugin can use only what it asks for and you allow here. Nothing is allowed until you tick it.
      </p>
      <form onSubmit={(e) => void submit(e)} noValidate class="stack">
        <Show when={asksNothing()}>
          <p>This plugin asks for no permissions: it can only answer its own routes{p().tools.length > 0 ? ' and the tools you let agents use' : ''}.</p>
        </Show>

        <Show when={req().net !== undefined}>
          <fieldset class="perm">
            <legend>Network</legend>
            <Show
              when={(req().net?.length ?? 0) > 0}
              fallback={<p>Asks to reach hosts that you choose (it names none itself), for example your own server's host.</p>}
            >
              <p>Asks to reach: <For each={req().net}>{(h, i) => <>{i() > 0 ? ', ' : ''}<code>{h}</code></>}</For>.</p>
            </Show>
            <label class="check">
              <input type="checkbox" checked={state.net} onChange={(e) => setState('net', e.currentTarget.checked)} />
              Allow network access
            </label>
            <div class="field">
              <label for="grant-hosts">Hosts it may reach</label>
              <textarea
                id="grant-hosts"
                rows="3"
                value={state.hosts}
                disabled={!state.net}
                aria-describedby="grant-hosts-hint"
                onInput={(e) => setState('hosts', e.currentTarget.value)}
              />
              <p class="hint" id="grant-hosts-hint">
                One per line: <code>api.example.com</code>, <code>api.example.com:8443</code> or <code>*.example.com</code>. Ports 80
                and 443 unless given. Only an exact host (no <code>*</code>) may resolve to a private address.
              </p>
            </div>
          </fieldset>
        </Show>

        <Show when={req().llm}>
          {(llm) => (
            <fieldset class="perm">
              <legend>Language models</legend>
              <p>
                Asks to use <For each={llm().models}>{(m, i) => <>{i() > 0 ? ', ' : ''}<code>{m}</code></>}</For>, spending up to
                ${llm().budget_usd} per calendar month. Calls are charged to you, the administrator who grants it.
              </p>
              <label class="check">
                <input type="checkbox" checked={state.llm} onChange={(e) => setState('llm', e.currentTarget.checked)} />
                Allow language models
              </label>
              <div class="row">
                <div class="field">
                  <label for="grant-models">Models</label>
                  <textarea id="grant-models" rows="2" value={state.models} disabled={!state.llm} aria-describedby="grant-models-hint" onInput={(e) => setState('models', e.currentTarget.value)} />
                  <p class="hint" id="grant-models-hint">One per line; you may add models to those it asks for.</p>
                </div>
                <div class="field">
                  <label for="grant-budget">Monthly budget (USD)</label>
                  <input id="grant-budget" type="number" min={llm().budget_usd} step="any" value={state.budget} disabled={!state.llm} aria-describedby="grant-budget-hint" onInput={(e) => setState('budget', e.currentTarget.value)} />
                  <p class="hint" id="grant-budget-hint">At least ${llm().budget_usd}.</p>
                </div>
              </div>
            </fieldset>
          )}
        </Show>

        <Show when={req().rag}>
          {(rag) => (
            <fieldset class="perm">
              <legend>Document search</legend>
              <p>Asks to search (read only) {rag().collections.length} document collection{rag().collections.length === 1 ? '' : 's'}:</p>
              <ul class="ids"><For each={rag().collections}>{(c) => <li><code>{c}</code></li>}</For></ul>
              <label class="check">
                <input type="checkbox" checked={state.rag} onChange={(e) => setState('rag', e.currentTarget.checked)} />
                Allow searching these collections
              </label>
            </fieldset>
          )}
        </Show>

        <Show when={req().chatbots}>
          {(bots) => (
            <fieldset class="perm">
              <legend>Chatbots</legend>
              <p>Asks to send messages to {bots().invoke.length} chatbot{bots().invoke.length === 1 ? '' : 's'}:</p>
              <ul class="ids"><For each={bots().invoke}>{(c) => <li><code>{c}</code></li>}</For></ul>
              <label class="check">
                <input type="checkbox" checked={state.chatbots} onChange={(e) => setState('chatbots', e.currentTarget.checked)} />
                Allow invoking these chatbots
              </label>
            </fieldset>
          )}
        </Show>

        <Show when={req().kv}>
          {(kv) => (
            <fieldset class="perm">
              <legend>Storage</legend>
              <p>Asks for its own key/value storage of {formatNumber(kv().quota_kb)} KB.</p>
              <label class="check">
                <input type="checkbox" checked={state.kv} onChange={(e) => setState('kv', e.currentTarget.checked)} />
                Allow its own storage
              </label>
              <div class="field narrow">
                <label for="grant-quota">Quota (KB)</label>
                <input id="grant-quota" type="number" min={kv().quota_kb} max="102400" step="1" value={state.quota} disabled={!state.kv} onInput={(e) => setState('quota', e.currentTarget.value)} />
              </div>
            </fieldset>
          )}
        </Show>

        <Show when={(req().secrets?.length ?? 0) > 0}>
          <fieldset class="perm">
            <legend>Secret settings</legend>
            <p>Asks to read these secret settings in clear (other secrets stay hidden from it):</p>
            <For each={req().secrets}>
              {(secret) => (
                <label class="check">
                  <input type="checkbox" checked={state.secrets[secret] ?? false} onChange={(e) => setState('secrets', secret, e.currentTarget.checked)} />
                  Let it read “{secretTitle(secret)}”
                </label>
              )}
            </For>
          </fieldset>
        </Show>

        <Show when={asksLimits(p())}>
          <fieldset class="perm">
            <legend>Resources</legend>
            <p>Asks for more than the platform's defaults (64 MB of memory, 1 s of CPU and 30 s per call):</p>
            <label class="check">
              <input type="checkbox" checked={state.limits} onChange={(e) => setState('limits', e.currentTarget.checked)} />
              Allow these limits
            </label>
            <div class="row">
              <For each={LIMIT_NAMES.filter((k) => p().requested_limits[k] !== undefined)}>
                {(k) => (
                  <div class="field">
                    <label for={`grant-${k}`}>{LIMIT_WORDS[k].label} ({LIMIT_WORDS[k].unit})</label>
                    <input
                      id={`grant-${k}`}
                      type="number"
                      min={p().requested_limits[k]}
                      max={LIMIT_CAPS[k]}
                      step="1"
                      value={state.limit[k]}
                      disabled={!state.limits}
                      aria-describedby={`grant-${k}-hint`}
                      onInput={(e) => setState('limit', k, e.currentTarget.value)}
                    />
                    <p class="hint" id={`grant-${k}-hint`}>Asks for {formatNumber(p().requested_limits[k] ?? 0)}; at most {formatNumber(LIMIT_CAPS[k])}.</p>
                  </div>
                )}
              </For>
            </div>
          </fieldset>
        </Show>

        <Show when={p().tools.length > 0}>
          <fieldset class="perm">
            <legend>Tools for agents</legend>
            <p>
              It offers tools that agents' models can call. A tool runs with this plugin's permissions (above), not the
              caller's, and is told which user it runs for. Agents can use only the tools you tick.
            </p>
            <For each={p().tools}>
              {(tool) => (
                <label class="check">
                  <input type="checkbox" checked={state.tools[tool.name] ?? false} onChange={(e) => setState('tools', tool.name, e.currentTarget.checked)} />
                  <span>
                    Let agents use <code>{tool.name}</code> <span class="muted">— {tool.description}</span>
                  </span>
                </label>
              )}
            </For>
          </fieldset>
        </Show>

        <Show when={p().routes.length > 0}>
          <div>
            <h3>Routes it answers</h3>
            <ul class="plain-list">
              <For each={p().routes}>
                {(r) => (
                  <li>
                    <code>{r.method} {routeUrl(p().name, r)}</code> <span class="muted">— {routeAccess(r)}</span>
                  </li>
                )}
              </For>
            </ul>
          </div>
        </Show>
        <Show when={p().cron.length > 0}>
          <div>
            <h3>Scheduled jobs</h3>
            <ul class="plain-list">
              <For each={p().cron}>
                {(c) => (
                  <li>
                    <strong>{c.name}</strong>: runs on the schedule <code>{c.schedule}</code> (UTC), for at most {formatNumber(c.timeout_ms / 1000)} s
                  </li>
                )}
              </For>
            </ul>
          </div>
        </Show>

        <Show when={problem()}><div class="alert error" role="alert">{problem()}</div></Show>
        <Show when={error()}><ErrorAlert error={error()} /></Show>
        <Show when={done()}><p class="muted" role="status">{done()}</p></Show>
        <div>
          <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : p().enabled ? 'Save grant' : 'Grant and enable'}</button>
        </div>
      </form>
    </section>
  )
}
