/**
 * The signed-in session. The access token lives only in this module's memory; the refresh token is an httpOnly
 * cookie the page never sees, and the readable `enclava_csrf` cookie is echoed in `X-CSRF-Token` (double submit).
 * Nothing goes to localStorage or sessionStorage. A page load restores the session with one silent refresh.
 */
import { batch, createSignal } from 'solid-js'
import { request, setAuthHooks, api } from './api.ts'

const AUTH = '/api-internal/v1/auth'
/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_S = 60

export interface User {
  id: string
  email: string
  username: string
  role: string
  force_password_change: boolean
  permissions?: string[]
}

interface TokenResponse {
  access_token: string
  token_type: string
  expires_in: number
  user: User
}

export type SessionStatus = 'restoring' | 'signed-in' | 'signed-out'

const [token, setToken] = createSignal<string | null>(null)
const [user, setUser] = createSignal<User | null>(null)
const [status, setStatus] = createSignal<SessionStatus>('restoring')

export { user, status }

let timer: ReturnType<typeof setTimeout> | undefined
let inflight: Promise<boolean> | undefined

function csrfToken(): string | null {
  for (const part of document.cookie.split(';')) {
    const [name, ...value] = part.trim().split('=')
    if (name === 'enclava_csrf') return decodeURIComponent(value.join('=')) || null
  }
  return null
}

function accept(pair: TokenResponse): void {
  // One change for whoever follows the session (the shared /auth/me): never a user without a token, or the reverse.
  batch(() => {
    setToken(pair.access_token)
    setUser(pair.user)
    setStatus('signed-in')
  })
  clearTimeout(timer)
  const delay = Math.max(5, pair.expires_in - REFRESH_MARGIN_S) * 1000
  timer = setTimeout(() => void refresh(), delay)
}

function clear(): void {
  clearTimeout(timer)
  batch(() => {
    setToken(null)
    setUser(null)
    setStatus('signed-out')
  })
}

/**
 * Refresh tokens rotate and the server revokes the whole session when an old one is presented again, so two tabs
 * refreshing at once would sign the person out. A Web Lock makes the tabs of this origin take turns; each reads the
 * cookie only once it holds the lock, so it sends the latest one.
 */
async function exclusive(fn: () => Promise<boolean>): Promise<boolean> {
  // Older browsers without Web Locks fall back to refreshing unguarded.
  return 'locks' in navigator ? navigator.locks.request('enclava-refresh', fn) : fn()
}

/** New access token from the refresh cookie; one request at a time however many callers ask. */
export function refresh(): Promise<boolean> {
  inflight ??= exclusive(async () => {
    const csrf = csrfToken()
    // Without the CSRF cookie there is no session to restore; skip the request rather than provoke a 401.
    if (!csrf) return false
    try {
      accept(await request<TokenResponse>('POST', `${AUTH}/refresh`, null, { body: {}, headers: { 'x-csrf-token': csrf } }))
      return true
    } catch {
      return false
    }
  }).finally(() => (inflight = undefined))
  return inflight.then((ok) => {
    if (!ok) clear()
    return ok
  })
}

setAuthHooks({ token, refresh, expired: clear })

/** Called once at start-up. */
export async function restore(): Promise<void> {
  await refresh()
}

export async function signIn(email: string, password: string): Promise<User> {
  const pair = await request<TokenResponse>('POST', `${AUTH}/login`, null, { body: { email, password, cookie: true } })
  accept(pair)
  return pair.user
}

/** Self-registration (only when the server allows it): the new account is signed in, with the session cookie. */
export async function signUp(email: string, username: string, password: string): Promise<User> {
  const pair = await request<TokenResponse>('POST', `${AUTH}/register`, null, { body: { email, username, password, cookie: true } })
  accept(pair)
  return pair.user
}

/** Whether the sign-in page may offer self-registration. */
export async function registrationOpen(): Promise<boolean> {
  try {
    return (await request<{ registration: boolean }>('GET', `${AUTH}/options`, null)).registration
  } catch {
    return false
  }
}

export async function signOut(): Promise<void> {
  const csrf = csrfToken()
  try {
    await request('POST', `${AUTH}/logout`, token(), { headers: csrf ? { 'x-csrf-token': csrf } : {} })
  } catch {
    // The session may already be gone; signing out locally is what the person asked for either way.
  } finally {
    clear()
  }
}

export async function changePassword(current: string, next: string): Promise<void> {
  await api('POST', `${AUTH}/change-password`, { body: { current_password: current, new_password: next } })
  setUser(await api<User>('GET', `${AUTH}/me`))
}
