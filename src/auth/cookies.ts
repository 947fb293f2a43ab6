import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { Cookie } from 'elysia'
import { ApiError } from '../http/errors.ts'

export const REFRESH_COOKIE = 'enclava_refresh'
export const CSRF_COOKIE = 'enclava_csrf'
/** The refresh cookie travels only to the auth routes that need it. */
const REFRESH_PATH = '/api-internal/v1/auth'

type Jar = Record<string, Cookie<unknown>>

/** Whether the browser reached us over https (directly, or through a proxy we trust to say so). */
export function isHttps(request: Request, trustProxy: boolean): boolean {
  if (new URL(request.url).protocol === 'https:') return true
  return trustProxy && request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim() === 'https'
}

/**
 * The dashboard's session: the refresh token in an httpOnly, SameSite=Strict cookie scoped to the auth routes, and
 * a CSRF token in a readable cookie that the page echoes in X-CSRF-Token (double submit), so a refresh needs both.
 */
export function setSessionCookies(jar: Jar, refreshToken: string, maxAgeSeconds: number, secure: boolean): void {
  jar[REFRESH_COOKIE]!.set({ value: refreshToken, httpOnly: true, sameSite: 'strict', path: REFRESH_PATH, maxAge: maxAgeSeconds, secure })
  jar[CSRF_COOKIE]!.set({ value: randomBytes(24).toString('base64url'), httpOnly: false, sameSite: 'strict', path: '/', maxAge: maxAgeSeconds, secure })
}

export function clearSessionCookies(jar: Jar, secure: boolean): void {
  jar[REFRESH_COOKIE]!.set({ value: '', httpOnly: true, sameSite: 'strict', path: REFRESH_PATH, maxAge: 0, secure })
  jar[CSRF_COOKIE]!.set({ value: '', httpOnly: false, sameSite: 'strict', path: '/', maxAge: 0, secure })
}

/** The refresh token of a cookie session, after checking the CSRF header against the CSRF cookie. */
export function cookieRefreshToken(jar: Jar, headers: Headers): string {
  const token = jar[REFRESH_COOKIE]?.value
  const csrf = jar[CSRF_COOKIE]?.value
  if (typeof token !== 'string' || !token)
    throw new ApiError('validation_failed', 'Send refresh_token, or the session cookie with X-CSRF-Token', 'refresh_token')
  const sent = headers.get('x-csrf-token') ?? ''
  if (typeof csrf !== 'string' || !csrf || sent.length !== csrf.length || !timingSafeEqual(Buffer.from(sent), Buffer.from(csrf)))
    throw new ApiError('permission_denied', 'The X-CSRF-Token header is missing or does not match')
  return token
}
