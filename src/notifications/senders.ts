import { createHmac, timingSafeEqual } from 'node:crypto'
import { guardedFetch, NetDenied, type NetGrant } from '../plugins/net-guard.ts'
import type { PlatformSettingsValue } from '../settings/model.ts'

/** What a channel is sent: the event, the same bytes on every attempt (receivers dedupe on `id`). */
export interface OutgoingEvent {
  id: string
  type: string
  title: string
  created_at: string
  data: Record<string, unknown>
}

export interface SendResult {
  ok: boolean
  status: number | null
  error: string | null
}

/**
 * `X-Enclava-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the channel's secret>`.
 * @example
 * const header = signWebhook('whsec_...', '{"id":"..."}')
 */
export function signWebhook(secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`
}

/**
 * What a receiver does: the signature over the raw body must match, and `t` must be recent (replays of an old
 * delivery are refused). Compared in constant time.
 * @example
 * if (!verifyWebhook(secret, req.headers.get('x-enclava-signature'), await req.text())) return new Response(null, { status: 401 })
 */
export function verifyWebhook(secret: string, header: string | null, body: string, toleranceSeconds = 300, now = Date.now()): boolean {
  if (!header) return false
  const parts = Object.fromEntries(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]))
  const t = Number(parts.t)
  if (!Number.isInteger(t) || !parts.v1 || Math.abs(now / 1000 - t) > toleranceSeconds) return false
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'))
  const given = Buffer.from(parts.v1)
  return expected.length === given.length && timingSafeEqual(expected, given)
}

const WEBHOOK_TIMEOUT_MS = 10_000
const WEBHOOK_MAX_RESPONSE = 64 * 1024

/**
 * POSTs the event, signed, through the plugins' network guard: the address connected to is the one checked. A
 * platform-wide channel (set by an administrator) may name a private or loopback host exactly; a user's channel
 * reaches public addresses only. Redirects are not followed (a 3xx is a failure): the signed body goes where it was
 * configured to, nowhere else. Success is a 2xx.
 */
export async function sendWebhook(
  url: string,
  secret: string,
  event: OutgoingEvent,
  opts: { deliveryId: string; attempt: number; privateNetwork: boolean },
): Promise<SendResult> {
  const body = JSON.stringify(event)
  let host: string
  try {
    host = new URL(url).host
  } catch {
    return { ok: false, status: null, error: 'the URL is not valid' }
  }
  const grant: NetGrant = { hosts: [host], publicOnly: !opts.privateNetwork }
  try {
    const res = await guardedFetch(
      {
        url,
        method: 'POST',
        headers: [
          ['content-type', 'application/json'],
          ['user-agent', 'Enclava-Webhooks/1'],
          ['x-enclava-event', event.type],
          ['x-enclava-delivery', opts.deliveryId],
          ['x-enclava-attempt', String(opts.attempt)],
          ['x-enclava-signature', signWebhook(secret, body)],
        ],
        body,
      },
      grant,
      { maxResponseBytes: WEBHOOK_MAX_RESPONSE, timeoutMs: WEBHOOK_TIMEOUT_MS, maxRedirects: 0 },
    )
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, error: null }
    const text = new TextDecoder().decode(res.body.slice(0, 200)).replace(/\s+/g, ' ').trim()
    return { ok: false, status: res.status, error: `the receiver answered ${res.status}${text ? `: ${text}` : ''}` }
  } catch (err) {
    if (err instanceof NetDenied) return { ok: false, status: null, error: `refused by the network guard (${err.reason}): ${err.message}` }
    return { ok: false, status: null, error: `could not be delivered: ${(err as Error).message}` }
  }
}

/** The lines of an email: the title and every detail, as text (no HTML, no remote content). */
function emailText(event: OutgoingEvent): string {
  const lines = [event.title, '', `Event: ${event.type}`, `At: ${event.created_at}`, '']
  for (const [k, v] of Object.entries(event.data)) lines.push(`${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
  lines.push('', `Event id: ${event.id}`, 'Sent by Enclava. Change what you receive under Notifications in the dashboard.')
  return lines.join('\n')
}

/**
 * Mails the event over SMTP with nodemailer (a fresh connection each time: notifications are rare, and a pooled
 * connection would outlive a settings change). Connection, greeting and socket time are bounded. Loaded with the first
 * mail: its ~22,000 objects would otherwise sit in the server thread's heap, where every full collection walks them.
 */
export async function sendEmail(
  to: string,
  event: OutgoingEvent,
  smtp: Pick<PlatformSettingsValue, 'smtp_host' | 'smtp_port' | 'smtp_security' | 'smtp_username' | 'smtp_from'> & { password: string | null },
): Promise<SendResult> {
  if (!smtp.smtp_host) return { ok: false, status: null, error: 'no mail server is configured (the setting smtp_host, or SMTP_URL)' }
  const { default: nodemailer } = await import('nodemailer')
  const transport = nodemailer.createTransport({
    host: smtp.smtp_host,
    port: smtp.smtp_port,
    secure: smtp.smtp_security === 'tls',
    ignoreTLS: smtp.smtp_security === 'none',
    ...(smtp.smtp_username ? { auth: { user: smtp.smtp_username, pass: smtp.password ?? '' } } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  })
  try {
    const info = await transport.sendMail({
      from: smtp.smtp_from,
      to,
      subject: `[Enclava] ${event.title}`.slice(0, 200),
      text: emailText(event),
      headers: { 'X-Enclava-Event': event.type, 'X-Enclava-Event-Id': event.id },
    })
    const code = Number(/^(\d{3})/.exec(String(info.response ?? ''))?.[1] ?? 250)
    return { ok: true, status: code, error: null }
  } catch (err) {
    const e = err as Error & { responseCode?: number }
    return { ok: false, status: e.responseCode ?? null, error: `the mail server refused or could not be reached: ${e.message}` }
  } finally {
    transport.close()
  }
}
