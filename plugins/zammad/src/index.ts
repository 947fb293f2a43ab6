import { BasePlugin, type PluginContext } from 'enclava:plugin'
import { buildPrompt, type Article, type TicketInfo } from './text.ts'
import { ZammadClient, ZammadError } from './zammad.ts'

const SUMMARY_SUBJECT = 'AI summary'
const DEFAULT_MODEL = 'privatemode-default'
const DEFAULT_MAX_ARTICLES = 20
/** Run records expire: the kv quota is finite and nobody reads a summary run from last year. */
const RUN_TTL_SECONDS = 90 * 24 * 3600
const MAX_SUMMARY_TOKENS = 600

type ErrorCode = 'invalid_json' | 'bad_payload' | 'bad_request' | 'not_configured' | 'zammad_error' | 'llm_error'

function failure(status: number, code: ErrorCode, message: string, extra: Record<string, unknown> = {}): Response {
  return Response.json({ error: { code, message, ...extra } }, { status })
}

interface Settings {
  zammadUrl: string
  apiToken: string
  model: string
  maxArticles: number
}

/** The settings, or the names of the ones missing. The platform validated types against the schema when they were saved. */
function readSettings(raw: unknown): Settings | { missing: string[] } {
  const s = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>
  const zammadUrl = typeof s.zammad_url === 'string' ? s.zammad_url.trim() : ''
  const apiToken = typeof s.api_token === 'string' ? s.api_token : ''
  const missing = [zammadUrl === '' ? 'zammad_url' : '', apiToken === '' ? 'api_token' : ''].filter(Boolean)
  if (missing.length > 0) return { missing }
  const max = s.max_articles
  return {
    zammadUrl,
    apiToken,
    model: typeof s.model === 'string' && s.model !== '' ? s.model : DEFAULT_MODEL,
    maxArticles: typeof max === 'number' && Number.isInteger(max) && max >= 1 ? Math.min(max, 100) : DEFAULT_MAX_ARTICLES,
  }
}

interface Webhook {
  ticket: TicketInfo
  /** The triggering article is one of our own summary notes. */
  ownNote: boolean
}

function readWebhook(body: unknown): Webhook | string {
  if (typeof body !== 'object' || body === null) return 'the body must be a JSON object (Zammad webhook payload)'
  const { ticket, article } = body as { ticket?: unknown; article?: unknown }
  if (typeof ticket !== 'object' || ticket === null) return 'ticket is missing: expected Zammad webhook JSON like {"ticket": {"id": 42, …}, "article": {…}}'
  const t = ticket as Record<string, unknown>
  const id = typeof t.id === 'string' && /^\d{1,15}$/.test(t.id) ? Number(t.id) : t.id
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) return 'ticket.id must be a positive integer'
  const info: TicketInfo = { id }
  if (typeof t.number === 'string' || typeof t.number === 'number') info.number = String(t.number)
  if (typeof t.title === 'string') info.title = t.title.slice(0, 500)
  const a = (typeof article === 'object' && article !== null ? article : {}) as Record<string, unknown>
  return { ticket: info, ownNote: a.internal === true && a.subject === SUMMARY_SUBJECT }
}

interface Completion {
  summary: string
  usage: unknown
}

function readCompletion(raw: unknown): Completion | null {
  const r = raw as { choices?: { message?: { content?: unknown } }[]; usage?: unknown } | null
  const content = r?.choices?.[0]?.message?.content
  if (typeof content !== 'string' || content.trim() === '') return null
  return { summary: content.trim(), usage: r?.usage ?? null }
}

interface RunRecord {
  ticket_id: number
  ticket_number: string | null
  at: string
  status: 'ok' | 'zammad_error' | 'llm_error'
  article_count: number
  model: string
  summary: string | null
  usage: unknown
  article_id: number | null
  error: string | null
}

const runPrefix = (ticketId: number) => `runs/${ticketId}/`

/** Keys sort by time: 13-digit milliseconds (until the year 2286), then a random suffix against collisions. */
async function saveRun(ctx: PluginContext, run: RunRecord): Promise<void> {
  const key = `${runPrefix(run.ticket_id)}${String(Date.parse(run.at)).padStart(13, '0')}-${crypto.randomUUID().slice(0, 8)}`
  try {
    await ctx.kv.set(key, run, { ttlSeconds: RUN_TTL_SECONDS })
  } catch (err) {
    // The note is already in Zammad (or the failure is already being reported): a full kv quota must not turn a
    // done job into an error, or Zammad would retry it and post a second note.
    await ctx.log('warn', `could not store the run record of ticket ${run.ticket_id}: ${err instanceof Error ? err.message : String(err)}`)
  }
}

async function webhook(req: Request, ctx: PluginContext): Promise<Response> {
  let body: unknown
  try {
    body = await req.json()
  } catch {
    return failure(400, 'invalid_json', 'the body is not valid JSON')
  }
  const hook = readWebhook(body)
  if (typeof hook === 'string') return failure(400, 'bad_payload', hook)
  const { ticket } = hook
  // Posting the note makes Zammad fire its triggers again; a trigger that matches our note must not loop.
  if (hook.ownNote) return Response.json({ ticket_id: ticket.id, skipped: 'summary_note' })

  const settings = readSettings(await ctx.config.get())
  if ('missing' in settings) return failure(503, 'not_configured', `the plugin is not configured: set ${settings.missing.join(' and ')} in its settings`)

  const run: RunRecord = {
    ticket_id: ticket.id,
    ticket_number: ticket.number ?? null,
    at: new Date().toISOString(),
    status: 'ok',
    article_count: 0,
    model: settings.model,
    summary: null,
    usage: null,
    article_id: null,
    error: null,
  }
  const zammad = new ZammadClient(settings.zammadUrl, settings.apiToken, ctx.fetch)

  let articles: Article[]
  try {
    articles = (await zammad.articles(ticket.id)).filter((a) => !(a.internal && a.subject === SUMMARY_SUBJECT))
  } catch (err) {
    return zammadFailure(ctx, run, err)
  }
  if (articles.length === 0) return Response.json({ ticket_id: ticket.id, skipped: 'no_articles' })

  const { messages, used } = buildPrompt(ticket, articles, settings.maxArticles)
  run.article_count = used
  let completion: Completion | null
  try {
    completion = readCompletion(await ctx.llm.chat({ model: settings.model, messages, max_tokens: MAX_SUMMARY_TOKENS, temperature: 0.2 }))
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown }
    const message = `the summary could not be generated with ${settings.model} (${String(e?.code ?? 'error')}): ${String(e?.message ?? err)}`
    await saveRun(ctx, { ...run, status: 'llm_error', error: message })
    return failure(502, 'llm_error', message)
  }
  if (completion === null) {
    const message = `${settings.model} returned no summary`
    await saveRun(ctx, { ...run, status: 'llm_error', error: message })
    return failure(502, 'llm_error', message)
  }
  run.summary = completion.summary
  run.usage = completion.usage

  const note = `${completion.summary}\n\n-- Summary of ${used} article${used === 1 ? '' : 's'} by ${settings.model}, generated by Enclava.`
  try {
    run.article_id = await zammad.addInternalNote(ticket.id, SUMMARY_SUBJECT, note)
  } catch (err) {
    return zammadFailure(ctx, run, err)
  }
  await saveRun(ctx, run)
  // The platform keeps a log line's level and message only, so the facts go into the message.
  await ctx.log('info', `ticket ${ticket.id} summarised from ${used} articles by ${settings.model}: note ${run.article_id}`)
  return Response.json({ ticket_id: ticket.id, article_id: run.article_id, summary: run.summary })
}

async function zammadFailure(ctx: PluginContext, run: RunRecord, err: unknown): Promise<Response> {
  if (!(err instanceof ZammadError)) throw err
  await saveRun(ctx, { ...run, status: 'zammad_error', error: err.message })
  await ctx.log('warn', `ticket ${run.ticket_id}: ${err.message}`)
  return failure(502, 'zammad_error', err.message, { upstream_status: err.upstreamStatus })
}

const MAX_RUNS_LISTED = 50

async function listRuns(req: Request, ctx: PluginContext): Promise<Response> {
  const raw = ctx.params.ticket_id ?? ''
  if (!/^\d{1,15}$/.test(raw) || Number(raw) <= 0) return failure(400, 'bad_request', 'ticket_id must be a positive integer')
  const limitParam = new URL(req.url).searchParams.get('limit')
  const limit = limitParam === null ? 20 : Number(limitParam)
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RUNS_LISTED) return failure(400, 'bad_request', `limit must be an integer from 1 to ${MAX_RUNS_LISTED}`)
  const ticketId = Number(raw)
  const listed = (await ctx.kv.list(runPrefix(ticketId))) as { keys?: unknown } | null
  const keys = Array.isArray(listed?.keys) ? listed.keys.filter((k): k is string => typeof k === 'string') : []
  const newest = keys.toSorted().reverse().slice(0, limit)
  // A record can expire between list and get: skip the gaps.
  const runs = (await Promise.all(newest.map((key) => ctx.kv.get(key)))).filter((r) => r !== null && r !== undefined)
  return Response.json({ ticket_id: ticketId, total: keys.length, runs })
}

/**
 * Zammad calls POST /webhook from a trigger (the platform has checked its X-Hub-Signature before this runs); the
 * plugin reads the ticket's articles, has the configured model summarise them, and posts the summary back as an
 * internal note. GET /runs/:ticket_id lists what it did for a ticket.
 */
export default class Zammad extends BasePlugin {
  override name = 'zammad'
  override version = '1.0.0'

  override routes = {
    'POST /webhook': webhook,
    'GET /runs/:ticket_id': listRuns,
  }
}
