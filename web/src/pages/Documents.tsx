/** Documents (RAG collections): the list at /documents, one collection at /documents/:id. */
import { Show } from 'solid-js'
import { useParams } from '@solidjs/router'
import { CollectionDetail } from './documents/CollectionDetail.tsx'
import { CollectionList } from './documents/CollectionList.tsx'
import './Documents.css'

export default function Documents() {
  const params = useParams<{ id?: string }>()
  return (
    <Show when={params.id} keyed fallback={<CollectionList />}>
      {(id) => <CollectionDetail id={id} />}
    </Show>
  )
}
