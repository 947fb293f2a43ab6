/** The security API's shapes, from the server's schemas (src/security/model.ts), and its path. */
import type { Wire } from '../../api.ts'
import type {
  IpBlockSchema,
  SecurityEventSchema,
  SecurityOverviewSchema,
  SecuritySettingsSchema,
  Severity as SeveritySchema,
  SuspendedKeySchema,
} from '../../../../src/security/model.ts'

export const SECURITY = '/api-internal/v1/security'

export type Severity = typeof SeveritySchema.static
export type SecurityEvent = Wire<typeof SecurityEventSchema.static>
export type IpBlock = Wire<typeof IpBlockSchema.static>
export type SuspendedKey = Wire<typeof SuspendedKeySchema.static>
export type Overview = typeof SecurityOverviewSchema.static
export type SecuritySettings = typeof SecuritySettingsSchema.static

export const SEVERITY_BADGE: Record<Severity, string> = { low: 'ok', medium: 'warn', high: 'bad' }

export const isLive = (b: IpBlock) => b.lifted_at === null && new Date(b.expires_at).getTime() > Date.now()

/** "security.ip_blocked" -> "IP blocked", for people. */
export const actionLabel = (action: string) =>
  action
    .replace(/^security\./, '')
    .replace(/^(auth|gateway|budget)\./, '$1: ')
    .replace(/_/g, ' ')
    .replace(/\bip\b/, 'IP')
    .replace(/\bdlp\b/, 'DLP')
    .replace(/^./, (c) => c.toUpperCase())

/** What an event is about, short: the address, key or model it names, and its kind or reason. */
export function eventSummary(e: SecurityEvent): string {
  const d = e.details
  const parts = [e.resource_type && e.resource_id ? `${e.resource_type} ${e.resource_id}` : null]
  for (const k of ['reason', 'kind', 'required_by', 'where']) if (typeof d[k] === 'string') parts.push(String(d[k]))
  if (d.kinds && typeof d.kinds === 'object') parts.push(Object.entries(d.kinds as Record<string, number>).map(([k, n]) => `${n} ${k}`).join(', '))
  return parts.filter(Boolean).join(' · ')
}
