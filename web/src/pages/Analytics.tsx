import { NotBuilt } from './NotBuilt.tsx'

export default function Analytics() {
  return <NotBuilt title="Analytics" />
}
