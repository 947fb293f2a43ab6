import { NotBuilt } from './NotBuilt.tsx'

export default function Settings() {
  return <NotBuilt title="Settings" />
}
