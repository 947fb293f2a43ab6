/** The Plugins section: the list at /plugins, one plugin at /plugins/:id (id = the plugin's name). */
import { Show } from 'solid-js'
import { useParams } from '@solidjs/router'
import { PluginDetail } from './plugins/PluginDetail.tsx'
import { PluginList } from './plugins/PluginList.tsx'
import './Plugins.css'

export default function Plugins() {
  const params = useParams<{ id?: string }>()
  return (
    <Show when={params.id} fallback={<PluginList />} keyed>
      {(id) => <PluginDetail name={id} />}
    </Show>
  )
}
