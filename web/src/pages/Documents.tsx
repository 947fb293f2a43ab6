/** Documents (RAG collections): the list at /documents, one collection at /documents/:id. */
import { Show } from 'solid-js'
import { useParams } from '@solidjs/router'
import { Gate } from '../ui.tsx'
import { CollectionDetail } from './documents/CollectionDetail.tsx'
import { CollectionList } from './documents/CollectionList.tsx'
import './Documents.css'

export default function Documents() {
  const params = useParams<{ id?: string }>()
  return (
    <Gate title="Documents" permission="rag:read" what="read document collections">
      <Show when={params.id} keyed fallback={<CollectionList />}>
        {(id) => <CollectionDetail id={id} />}
      </Show>
    </Gate>
  )
}
