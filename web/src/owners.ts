/**
 * Who owns what, for administrators: lists of chatbots, collections, agents or keys that include other people's
 * show an Owner column. Names come from the user list (users:read); without it the column says "another user".
 */
import { createResource } from 'solid-js'
import { api } from './api.ts'
import { useMe } from './me.ts'

export function useOwners() {
  const { me, can } = useMe()
  const [users] = createResource(
    () => can('users:read'),
    () =>
      api<{ data: { id: string; email: string; username: string }[] }>('GET', '/api-internal/v1/users?limit=200').then(
        (r) => new Map(r.data.map((u) => [u.id, u.email])),
        () => new Map<string, string>(),
      ),
  )
  const myId = () => (me.error ? undefined : me.latest?.id)
  return {
    /** "you", the owner's email, or "another user". */
    name: (ownerId: string) => (ownerId === myId() ? 'you' : (users.latest?.get(ownerId) ?? 'another user')),
    /** Whether a list holds anything that is not the person's own (then it gets an Owner column). */
    mixed: (rows: readonly { owner_id: string }[] | undefined) => (rows ?? []).some((r) => r.owner_id !== myId()),
    mine: (ownerId: string) => ownerId === myId(),
  }
}
