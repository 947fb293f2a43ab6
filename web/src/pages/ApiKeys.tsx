import { NotBuilt } from './NotBuilt.tsx'

export default function ApiKeys() {
  return <NotBuilt title="API keys" />
}
