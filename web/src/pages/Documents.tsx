import { NotBuilt } from './NotBuilt.tsx'

export default function Documents() {
  return <NotBuilt title="Documents" />
}
