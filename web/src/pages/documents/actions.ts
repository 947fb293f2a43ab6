/** Document actions shared by the table and the details panel. */
import { api, authorizedFetch } from '../../api.ts'
import { RAG, type Doc } from './types.ts'

/** Fetches the decrypted original with the bearer token and hands it to the browser as a download. */
export async function download(doc: Doc): Promise<void> {
  const res = await authorizedFetch(`${RAG}/documents/${doc.id}/download`)
  const url = URL.createObjectURL(await res.blob())
  const link = document.createElement('a')
  link.href = url
  link.download = doc.filename
  document.body.append(link)
  link.click()
  link.remove()
  // The click has started the download by the next task; the URL is not needed after that.
  setTimeout(() => URL.revokeObjectURL(url), 0)
}

export const reprocess = (doc: Doc) => api<Doc>('POST', `${RAG}/documents/${doc.id}/reprocess`)
export const deleteDocument = (doc: Doc) => api('DELETE', `${RAG}/documents/${doc.id}`)
