import { NotBuilt } from './NotBuilt.tsx'

export default function Providers() {
  return <NotBuilt title="Providers" />
}
