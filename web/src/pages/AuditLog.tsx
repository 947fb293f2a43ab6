import { NotBuilt } from './NotBuilt.tsx'

export default function AuditLog() {
  return <NotBuilt title="Audit log" />
}
