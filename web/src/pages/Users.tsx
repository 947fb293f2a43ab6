import { NotBuilt } from './NotBuilt.tsx'

export default function Users() {
  return <NotBuilt title="Users" />
}
