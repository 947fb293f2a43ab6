/**
 * Security, for administrators: where confidentiality and guardrails stand, what threat detection saw (events,
 * blocked addresses, suspended keys), and its thresholds. Reading needs audit:read (security events are audit
 * events); blocking, lifting, suspending, reinstating and changing settings need settings:manage.
 */
import { createResource, Show } from 'solid-js'
import { api } from '../api.ts'
import { ErrorAlert, formatNumber, Gate, Loading, PageHeader } from '../ui.tsx'
import { useMe } from '../me.ts'
import { SecurityBlocks, SuspendedKeys } from './security/Blocks.tsx'
import { SecurityEvents } from './security/Events.tsx'
import { SecuritySettingsForm } from './security/Settings.tsx'
import { SECURITY, type Overview } from './security/types.ts'
import './security/Security.css'

const DLP: Record<Overview['dlp_mode'], string> = { off: 'Off', redact: 'Redact', block: 'Block' }

export default function Security() {
  const { can } = useMe()
  const [overview, { refetch }] = createResource(() => can('audit:read'), () => api<Overview>('GET', `${SECURITY}/overview`))
  return (
    <section aria-labelledby="page-title" class="stack">
      <Gate title="Security" permission="audit:read" what="see security events">
        <PageHeader title="Security" description="Confidentiality and guardrails, what threat detection saw (events, blocked addresses, suspended keys), and its thresholds." />
          <Show when={!overview.error} fallback={<ErrorAlert error={overview.error} retry={refetch} />}>
            <Show when={overview.latest} fallback={<Loading label="Loading…" />}>
              {(o) => (
                <dl class="tiles" data-testid="security-overview">
                  <div class="tile"><dt>Confidential only</dt><dd>{o().confidential_only ? 'On' : 'Off'}</dd></div>
                  <div class="tile"><dt>Data-loss prevention</dt><dd>{DLP[o().dlp_mode]}</dd></div>
                  <div class="tile"><dt>Blocked addresses</dt><dd>{formatNumber(o().active_blocks)}</dd></div>
                  <div class="tile"><dt>Suspended keys</dt><dd>{formatNumber(o().suspended_keys)}</dd></div>
                  <div class="tile"><dt>High-severity events (24 h)</dt><dd>{formatNumber(o().events_24h.high)}</dd></div>
                  <div class="tile"><dt>Flagged document chunks</dt><dd>{formatNumber(o().flagged_chunks)}</dd></div>
                </dl>
              )}
            </Show>
          </Show>
          <SecurityBlocks canManage={can('settings:manage')} onChange={() => void refetch()} />
          <SuspendedKeys canManage={can('settings:manage')} onChange={() => void refetch()} />
          <SecurityEvents />
          <SecuritySettingsForm canManage={can('settings:manage')} onSaved={() => void refetch()} />
      </Gate>
    </section>
  )
}
