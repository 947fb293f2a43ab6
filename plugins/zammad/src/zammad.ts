import { toArticle, type Article } from './text.ts'

/** A Zammad call that failed: the message is fit for the webhook's response (no token, no internals of ours). */
export class ZammadError extends Error {
  readonly upstreamStatus: number | null
  constructor(message: string, upstreamStatus: number | null) {
    super(message)
    this.name = 'ZammadError'
    this.upstreamStatus = upstreamStatus
  }
}

type Fetch = (input: string, init?: RequestInit) => Promise<Response>

/**
 * The two Zammad REST calls the plugin makes. The token lives in a private field and goes only into the
 * Authorization header; every error message passes through #redact in case Zammad (or a proxy) echoes it.
 *
 * @example
 * const zammad = new ZammadClient('https://support.example.com', token, ctx.fetch)
 * const articles = await zammad.articles(42)
 */
export class ZammadClient {
  readonly #base: string
  readonly #token: string
  readonly #fetch: Fetch

  constructor(baseUrl: string, token: string, fetch: Fetch) {
    this.#base = baseUrl.replace(/\/+$/, '')
    this.#token = token
    this.#fetch = fetch
  }

  /** Every article of the ticket, oldest first. */
  async articles(ticketId: number): Promise<Article[]> {
    const raw = await this.#call('GET', `/api/v1/ticket_articles/by_ticket/${ticketId}`)
    if (!Array.isArray(raw)) throw new ZammadError(`Zammad answered GET /api/v1/ticket_articles/by_ticket/${ticketId} with something other than a list of articles`, null)
    return raw
      .map(toArticle)
      .filter((a): a is Article => a !== null)
      .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id - b.id)
  }

  /** Adds an internal plain-text note to the ticket; resolves to the new article's id. */
  async addInternalNote(ticketId: number, subject: string, body: string): Promise<number> {
    const raw = await this.#call('POST', '/api/v1/ticket_articles', { ticket_id: ticketId, subject, body, content_type: 'text/plain', type: 'note', internal: true })
    const id = (raw as { id?: unknown } | null)?.id
    if (typeof id !== 'number') throw new ZammadError('Zammad created the note but did not answer with its id', null)
    return id
  }

  async #call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { authorization: `Token token=${this.#token}`, accept: 'application/json' }
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await this.#fetch(this.#base + path, body === undefined ? { method, headers } : { method, headers, body: JSON.stringify(body) })
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      throw new ZammadError(this.#redact(`could not reach Zammad at ${this.#base}: ${reason}`), null)
    }
    const text = await res.text()
    if (!res.ok) {
      const hint = res.status === 401 || res.status === 403 ? '; check the api_token setting and its permissions' : ''
      throw new ZammadError(this.#redact(`Zammad answered ${res.status} to ${method} ${path}${describe(text)}${hint}`), res.status)
    }
    try {
      return JSON.parse(text)
    } catch {
      throw new ZammadError(`Zammad answered ${method} ${path} with something other than JSON`, res.status)
    }
  }

  #redact(message: string): string {
    return this.#token === '' ? message : message.replaceAll(this.#token, '[redacted]')
  }
}

/** Zammad's own error text (`{"error": "…"}`), shortened, to make a failure explain itself. */
function describe(body: string): string {
  try {
    const error = (JSON.parse(body) as { error?: unknown }).error
    return typeof error === 'string' && error !== '' ? ` (${error.slice(0, 200)})` : ''
  } catch {
    return ''
  }
}
