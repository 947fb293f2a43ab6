/** The Plugins section, for administrators (plugins:manage): the list at /plugins, one plugin at /plugins/:id (id = its name). */
import { Show } from 'solid-js'
import { useParams } from '@solidjs/router'
import { Gate } from '../ui.tsx'
import { PluginDetail } from './plugins/PluginDetail.tsx'
import { PluginList } from './plugins/PluginList.tsx'
import './Plugins.css'

export default function Plugins() {
  const params = useParams<{ id?: string }>()
  return (
    <Gate title="Plugins" permission="plugins:manage" what="manage plugins">
      <Show when={params.id} fallback={<PluginList />} keyed>
        {(id) => <PluginDetail name={id} />}
      </Show>
    </Gate>
  )
}
