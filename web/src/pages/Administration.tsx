/**
 * Platform administration: runtime settings, modules, roles, platform-wide notifications and retention, one tab each
 * (`/admin/<tab>`). Each tab asks for its own permission; every change applies on every replica and is audited.
 */
import { createSignal, Match, Switch } from 'solid-js'
import { useNavigate, useParams } from '@solidjs/router'
import { Gate, PageHeader } from '../ui.tsx'
import { Tabs } from '../tabs.tsx'
import { PlatformSettingsForm } from './admin/SettingsForm.tsx'
import { ModulesPanel } from './admin/Modules.tsx'
import { RolesPanel } from './admin/Roles.tsx'
import { RetentionPanel } from './admin/Retention.tsx'
import { ChannelsPanel } from './notifications/Channels.tsx'
import { DeliveryLog } from './notifications/DeliveryLog.tsx'
import './Administration.css'

const TABS = [
  { id: 'settings', label: 'Settings' },
  { id: 'modules', label: 'Modules' },
  { id: 'roles', label: 'Roles' },
  { id: 'notifications', label: 'Notifications' },
  { id: 'retention', label: 'Retention and data' },
] as const
type Tab = (typeof TABS)[number]['id']

export default function Administration() {
  const params = useParams<{ id?: string }>()
  const navigate = useNavigate()
  const [deliveries, setDeliveries] = createSignal(0)
  const tab = (): Tab => (TABS.some((t) => t.id === params.id) ? (params.id as Tab) : 'settings')
  return (
    <section class="admin-page" aria-labelledby="page-title">
      <PageHeader
        title="Platform"
        description="Settings that take effect on every replica within a second, modules, roles, platform-wide notifications and how long data is kept. Every change is audited."
      />
      <Tabs label="Platform administration" tabs={TABS} value={tab()} onChange={(id) => navigate(`/admin/${id}`)} />
      <div role="tabpanel" id={`panel-${tab()}`} aria-labelledby={`tab-${tab()}`}>
        <Switch>
          <Match when={tab() === 'settings'}>
            <Gate title="Settings" permission="settings:manage" what="change platform settings" header={false}><PlatformSettingsForm /></Gate>
          </Match>
          <Match when={tab() === 'modules'}>
            <Gate title="Modules" permission="settings:manage" what="turn modules on and off" header={false}><ModulesPanel /></Gate>
          </Match>
          <Match when={tab() === 'roles'}>
            <Gate title="Roles" permission="users:read" what="see roles" header={false}><RolesPanel /></Gate>
          </Match>
          <Match when={tab() === 'notifications'}>
            <Gate title="Notifications" permission="settings:manage" what="manage platform-wide notifications" header={false}>
              <div class="stack">
                <ChannelsPanel scope="admin" onChange={() => setDeliveries(deliveries() + 1)} />
                <DeliveryLog scope="admin" reload={deliveries()} />
              </div>
            </Gate>
          </Match>
          <Match when={tab() === 'retention'}>
            <Gate title="Retention" permission="settings:manage" what="manage retention" header={false}><RetentionPanel /></Gate>
          </Match>
        </Switch>
      </div>
    </section>
  )
}
