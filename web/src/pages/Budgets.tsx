import { NotBuilt } from './NotBuilt.tsx'

export default function Budgets() {
  return <NotBuilt title="Budgets" />
}
