import { NotBuilt } from './NotBuilt.tsx'

export default function Playground() {
  return <NotBuilt title="Playground" />
}
