import { NotBuilt } from './NotBuilt.tsx'

export default function Plugins() {
  return <NotBuilt title="Plugins" />
}
