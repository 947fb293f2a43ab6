/**
 * Saves an authenticated download (the export endpoint needs the bearer token, so a plain link cannot fetch it):
 * the response becomes a blob behind an object URL that a temporary link with `download` clicks.
 */
import { authorizedFetch } from '../../api.ts'

function filenameOf(res: Response, fallback: string): string {
  const match = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')
  return match?.[1] ?? fallback
}

export async function download(path: string, fallbackName: string): Promise<void> {
  const res = await authorizedFetch(path)
  const url = URL.createObjectURL(await res.blob())
  const link = document.createElement('a')
  link.href = url
  link.download = filenameOf(res, fallbackName)
  document.body.append(link)
  link.click()
  link.remove()
  // Revoked later, not at once: a browser may still be reading the blob when click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
