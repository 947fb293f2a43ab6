/**
 * The dashboard's one HTTP client: JSON in and out, the bearer token added, the API's error envelope
 * (`{ error: { message, code, param } }`) turned into an `ApiError` whose `message` is fit to show people.
 * A 401 triggers one silent refresh and one retry; the session module supplies both through `setAuthHooks`.
 */

/** A server schema's type as JSON delivers it: a `t.Date()` field arrives as its ISO string. */
export type Wire<T> = T extends Date ? string : T extends object ? { [K in keyof T]: Wire<T[K]> } : T

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly param: string | null

  constructor(status: number, message: string, code = 'error', param: string | null = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.param = param
  }
}

export interface RequestOptions {
  body?: unknown
  headers?: Record<string, string>
  signal?: AbortSignal
}

interface AuthHooks {
  token(): string | null
  /** Gets a new access token; false when the session is gone. */
  refresh(): Promise<boolean>
  /** Called when the session is gone for good (the guards then send the user to sign-in). */
  expired(): void
}

let hooks: AuthHooks = { token: () => null, refresh: async () => false, expired: () => {} }

export function setAuthHooks(next: AuthHooks): void {
  hooks = next
}

const networkError = () => new ApiError(0, 'Cannot reach the server. Check your connection and try again.', 'network_error')

/**
 * Sends, and when the answer is a 401 refreshes the session once and sends again (`send` reads the token anew);
 * when the refresh fails the session is over and the guards take the person to sign-in.
 */
async function withRefresh<R extends { status: number }>(send: () => Promise<R>): Promise<R> {
  const res = await send()
  if (res.status !== 401) return res
  if (await hooks.refresh()) return send()
  hooks.expired()
  return res
}

/** A plain request: no retry, no refresh. `token` null sends no Authorization header. */
export async function request<T>(method: string, path: string, token: string | null, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers }
  if (token) headers.authorization = `Bearer ${token}`
  const init: RequestInit = { method, headers, credentials: 'same-origin' }
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json'
    init.body = JSON.stringify(opts.body)
  }
  if (opts.signal) init.signal = opts.signal
  let res: Response
  try {
    res = await fetch(path, init)
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error
    throw networkError()
  }
  if (res.status === 204) return undefined as T
  const text = await res.text()
  const parsed = parseJson(text)
  if (!res.ok) throw toApiError(res.status, parsed)
  return parsed as T
}

/** A body as JSON, or null when it is empty or not JSON (a proxy's HTML error page, say). */
function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null
  } catch {
    return null
  }
}

function toApiError(status: number, body: unknown): ApiError {
  const error = (body as { error?: { message?: unknown; code?: unknown; param?: unknown } } | null)?.error
  const message = typeof error?.message === 'string' && error.message ? error.message : fallbackMessage(status)
  const code = typeof error?.code === 'string' ? error.code : 'error'
  const param = typeof error?.param === 'string' ? error.param : null
  return new ApiError(status, message, code, param)
}

function fallbackMessage(status: number): string {
  if (status === 401) return 'Your session has ended. Sign in again.'
  if (status === 403) return 'You do not have permission to do that.'
  if (status === 404) return 'Not found.'
  if (status === 429) return 'Too many requests. Wait a moment and try again.'
  if (status >= 500) return 'The server could not complete the request. Try again shortly.'
  return `The request failed (HTTP ${status}).`
}

/**
 * A 401 that a new access token can cure. Others (a wrong current password, say) are answers, not expiry: retrying
 * them would send the same wrong password twice.
 */
const sessionExpired = (error: ApiError) => error.status === 401 && (error.code === 'invalid_token' || error.code === 'authentication_required')

/**
 * An authenticated request to the API, with one refresh-and-retry on 401.
 *
 * @example
 * const me = await api<User>('GET', '/api-internal/v1/auth/me')
 * await api('POST', '/api-internal/v1/api-keys', { body: { name: 'ci' } })
 */
export async function api<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  try {
    return await request<T>(method, path, hooks.token(), opts)
  } catch (error) {
    if (!(error instanceof ApiError) || !sessionExpired(error)) throw error
    if (!(await hooks.refresh())) {
      hooks.expired()
      throw error
    }
    return request<T>(method, path, hooks.token(), opts)
  }
}

/**
 * A raw authenticated fetch for what JSON calls cannot do: multipart uploads, server-sent event streams, file
 * downloads. Adds the bearer token and refreshes once on 401; a non-2xx response is turned into an ApiError.
 *
 * @example
 * const res = await authorizedFetch('/api-internal/v1/llm/chat/completions', { method: 'POST', body, headers })
 * const reader = res.body!.getReader()
 */
export async function authorizedFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const send = () => {
    const headers = new Headers(init.headers)
    const token = hooks.token()
    if (token) headers.set('authorization', `Bearer ${token}`)
    return fetch(path, { ...init, headers, credentials: 'same-origin' })
  }
  let res: Response
  try {
    res = await withRefresh(send)
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error
    throw networkError()
  }
  if (res.ok) return res
  const text = await res.text()
  throw toApiError(res.status, parseJson(text))
}

/**
 * A multipart upload that reports its progress (fetch cannot), with the bearer token and one refresh on 401.
 * Resolves with the parsed JSON body of a 2xx; anything else is an ApiError, like every other call.
 *
 * @example
 * const result = await upload('/api-internal/v1/rag/collections/1/documents', form, (sent, total) => setPct(sent / total))
 */
export async function upload<T>(path: string, body: FormData, onProgress: (sent: number, total: number) => void, signal?: AbortSignal): Promise<T> {
  const send = () =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const xhr = new XMLHttpRequest()
      xhr.open('POST', path)
      const token = hooks.token()
      if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`)
      xhr.setRequestHeader('accept', 'application/json')
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded, e.total)
      xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText })
      xhr.onerror = () => reject(networkError())
      xhr.onabort = () => reject(new DOMException('The upload was aborted', 'AbortError'))
      signal?.addEventListener('abort', () => xhr.abort(), { once: true })
      xhr.send(body)
    })
  const res = await withRefresh(send)
  const parsed = parseJson(res.text)
  if (res.status < 200 || res.status >= 300) throw toApiError(res.status, parsed)
  return parsed as T
}
