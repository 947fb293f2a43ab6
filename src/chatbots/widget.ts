import { Elysia, t } from 'elysia'
import { join } from 'node:path'
import type { VerifiedKey } from '../api-keys/verifier.ts'
import { requireApiKey } from '../auth/guards.ts'
import { ApiError } from '../http/errors.ts'
import { requestIdOf, requestMeta, startedAt } from '../http/request-meta.ts'
import type { Logger } from '../log.ts'
import { binaryAssets } from '../runtime/binary.ts'
import type { Services } from '../services.ts'

const CLIENT_SOURCE = join(import.meta.dir, 'widget-client.ts')
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
/** Browsers cap this themselves (Chromium: 2 h); ten minutes bounds how long a removed origin keeps passing preflight. */
const PREFLIGHT_MAX_AGE_S = 600
/** No versioned URL is embedded in customers' pages, so the script is revalidated often and the ETag makes that cheap. */
const SCRIPT_CACHE_CONTROL = 'public, max-age=300'

const WidgetChatBody = t.Object(
  { message: t.String({ minLength: 1, maxLength: 4000 }), conversation_id: t.Optional(t.String({ format: 'uuid' })) },
  { additionalProperties: false },
)
const WidgetSource = t.Object({ index: t.Integer(), document_name: t.String() })
/** Only what the widget shows: a public page gets no snippets, scores, metadata or usage. */
const WidgetChatResponse = t.Object({
  response: t.String(),
  conversation_id: t.String({ format: 'uuid' }),
  sources: t.Array(WidgetSource),
  citations: t.Array(WidgetSource),
  fallback: t.Boolean(),
})

/** `https://Shop.example.com:443` -> `https://shop.example.com`, as a browser serialises an Origin header. */
function canonicalOrigin(value: string): string | null {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.origin : null
  } catch {
    return null
  }
}

/**
 * Is `origin` (an Origin header) listed by some usable widget key of this chatbot: active, unexpired, with the
 * `chatbots` scope, narrowed to the chatbot and owned by its owner (a key reaches only its owner's chatbots)?
 * This decides only whether the browser may read responses; each request is still checked against its own key.
 */
async function originServesChatbot(sql: Services['sql'], chatbotId: string, origin: string): Promise<boolean> {
  if (canonicalOrigin(origin) !== origin) return false
  const rows = await sql<{ allowed_origins: string[] }[]>`
    SELECT k.allowed_origins
    FROM chatbots c
    JOIN api_keys k ON k.user_id = c.owner_id
    JOIN users u ON u.id = k.user_id
    WHERE c.id = ${chatbotId} AND k.is_active AND u.is_active AND (k.expires_at IS NULL OR k.expires_at > now())
      AND 'chatbots' = ANY(k.scopes) AND ${chatbotId} = ANY(SELECT lower(b) FROM unnest(k.allowed_chatbots) b)`
  return rows.some((r) => r.allowed_origins.some((o) => canonicalOrigin(o) === origin))
}

function corsHeaders(origin: string): Record<string, string> {
  // Never Allow-Credentials: the widget authenticates with its key alone, and a cookie must not ride along.
  return { 'access-control-allow-origin': origin }
}

interface WidgetScript {
  code: string
  etag: string
}

/** Bundles widget-client.ts into the script served at /widget.js (scripts/build.ts runs it for the binary). */
export async function bundleWidgetScript(): Promise<string> {
  const result = await Bun.build({ entrypoints: [CLIENT_SOURCE], target: 'browser', format: 'iife', minify: true })
  const output = result.outputs[0]
  if (!result.success || !output) throw new AggregateError(result.logs, 'building the widget script failed')
  return output.text()
}

async function buildScript(): Promise<WidgetScript> {
  // The single binary has no sources to bundle: it carries the script, built when the binary was.
  const code = binaryAssets()?.widget ?? (await bundleWidgetScript())
  return { code, etag: `"${new Bun.CryptoHasher('sha256').update(code).digest('hex').slice(0, 32)}"` }
}

// One build per process: every app instance (tests make many) serves the same bytes.
let script: Promise<WidgetScript> | undefined
function widgetScript(log: Logger): Promise<WidgetScript> {
  if (!script) {
    script = buildScript()
    // Reported at start-up; the route then answers 500 until the source is fixed.
    script.catch((err: unknown) => log.error({ err }, 'widget script build failed'))
  }
  return script
}

const matchesEtag = (header: string | null, etag: string) =>
  header !== null && header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)

/**
 * The embeddable chat widget: the script (`GET /widget.js`) and the browser-facing chat API it calls,
 * `POST /api/v1/widget/{chatbot}/chat`, for publishable keys. Such a key is public (it sits in a page's HTML), so
 * what it can do is pinned server-side: scope `chatbots`, a non-empty `allowed_chatbots` naming this chatbot, and
 * `allowed_origins` naming the page's origin, checked against the Origin header. A per-chatbot, per-client-IP
 * limit (WIDGET_RATE_LIMIT_PER_MINUTE) applies on top of the key's own limits, since every visitor shares the key.
 *
 * CORS: the preflight carries no key, so it is answered from the keys themselves: the allow headers go out only
 * when some usable key of this chatbot lists the origin (one indexed query; the browser caches the answer for
 * PREFLIGHT_MAX_AGE_S). A disallowed page never gets its POST sent at all. The POST applies the same rule before
 * anything else, so every answer to an allowed page (403, 429, 5xx included) is readable by the widget.
 *
 * @example
 * new Elysia().use(widgetRoutes(services))
 */
export function widgetRoutes(s: Services) {
  const built = widgetScript(s.log)
  const keys = new WeakMap<Request, VerifiedKey>()

  const assets = new Elysia({ tags: ['widget'] }).get(
    '/widget.js',
    async ({ request }) => {
      const { code, etag } = await built
      const headers = {
        'cache-control': SCRIPT_CACHE_CONTROL,
        etag,
        // Pages that require CORP for their subresources (COEP) may still embed it.
        'cross-origin-resource-policy': 'cross-origin',
      }
      if (matchesEtag(request.headers.get('if-none-match'), etag)) return new Response(null, { status: 304, headers })
      return new Response(code, { headers: { ...headers, 'content-type': 'text/javascript; charset=utf-8', 'x-content-type-options': 'nosniff' } })
    },
    { detail: { summary: 'The embeddable chat widget script', security: [] } },
  )

  /** The platform's own allow-list of widget origins (a runtime setting; empty: any origin a widget key names). */
  const platformAllows = (origin: string) => {
    const allowed = s.settings.current.widget_allowed_origins
    return allowed.length === 0 || allowed.includes(origin)
  }
  const api = new Elysia({ prefix: '/api/v1', tags: ['widget'] })
    .options(
      '/widget/:id/chat',
      async ({ request, params, set }) => {
        set.headers.vary = 'Origin'
        set.status = 204
        const origin = request.headers.get('origin')
        const id = params.id.toLowerCase()
        if (!origin || !platformAllows(origin) || !UUID.test(id) || !(await originServesChatbot(s.sql, id, origin))) return
        Object.assign(set.headers, corsHeaders(origin), {
          'access-control-allow-methods': 'POST',
          'access-control-allow-headers': 'content-type, x-api-key',
          'access-control-max-age': String(PREFLIGHT_MAX_AGE_S),
        })
      },
      { detail: { summary: 'CORS preflight for the widget chat', security: [] } },
    )
    .post(
      '/widget/:id/chat',
      async ({ request, params, body }) => {
        const key = keys.get(request)
        if (!key) throw new Error('widget access check did not run')
        const bot = await s.chatbots
          .get({ userId: key.user_id, isAdmin: false, allowedChatbots: key.allowed_chatbots }, params.id)
          .catch(() => {
            throw new ApiError('not_found', `Chatbot ${params.id} not found`)
          })
        const answer = await s.chatbots.chat(
          bot,
          body,
          { source: 'chatbot', userId: key.user_id, apiKey: key, requestId: requestIdOf(request), startedAt: startedAt(request) },
          { userId: key.user_id, apiKeyId: key.id, source: 'api' },
          request.signal,
        )
        const present = (list: typeof answer.sources) => list.map(({ index, document_name }) => ({ index, document_name }))
        return {
          response: answer.response,
          conversation_id: answer.conversation_id,
          sources: present(answer.sources),
          citations: present(answer.citations),
          fallback: answer.fallback,
        }
      },
      {
        // In transform, before validation: a caller that may not use the widget learns nothing about the body.
        async transform({ request, server, params, path, set }) {
          const headers = set.headers as Record<string, string>
          headers.vary = 'Origin'
          // Lower-cased so that case variants of one id cannot open separate rate-limit windows.
          const id = params.id.toLowerCase()
          const origin = request.headers.get('origin')
          // Decided first, so that every refusal below (401, 403, 429) is readable by an allowed page's widget.
          if (origin && platformAllows(origin) && UUID.test(id) && (await originServesChatbot(s.sql, id, origin))) Object.assign(headers, corsHeaders(origin))
          // Before the key: one visitor spending the key's budget, which every visitor of the site shares, is what
          // this limit prevents.
          const ip = requestMeta(request, server, s.guardDeps.trustProxy).ip ?? 'unknown'
          await s.limiter.take(`widget:${id}:${ip}`, { perMinute: s.settings.current.widget_rate_limit_per_minute }, headers)
          // The key's own limits apply too, but its X-RateLimit-* headers would describe the shared budget, not this
          // visitor's; they are kept off the response (its 429 still carries them).
          const key = await requireApiKey(s.guardDeps, request, server, path, {}, 'chatbots', { widget: true })
          if (!origin) throw new ApiError('permission_denied', 'The widget API serves browsers: send an Origin header (servers use /api/v1/chatbot/{id}/chat)')
          if (!key.allowed_origins.some((o) => canonicalOrigin(o) === origin))
            throw new ApiError('permission_denied', `This API key may not be used from the origin ${origin}`)
          if (!platformAllows(origin))
            throw new ApiError('permission_denied', `The platform does not allow the widget on the origin ${origin} (the setting widget_allowed_origins)`)
          if (key.allowed_chatbots.length === 0)
            throw new ApiError('permission_denied', 'A widget key must be restricted to its chatbots (allowed_chatbots)')
          if (!key.allowed_chatbots.some((c) => c.toLowerCase() === id))
            throw new ApiError('permission_denied', `This API key may not use chatbot ${params.id}`)
          keys.set(request, key)
        },
        params: t.Object({ id: t.String({ format: 'uuid' }) }),
        body: WidgetChatBody,
        response: WidgetChatResponse,
        detail: {
          summary: 'Chat from the embedded widget (publishable key narrowed to the chatbot and the page origin)',
          description: 'Called by /widget.js from the allowed origins; server-side callers use POST /api/v1/chatbot/{id}/chat.',
        },
      },
    )

  return new Elysia().use(assets).use(api)
}
