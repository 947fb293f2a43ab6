import { NotBuilt } from './NotBuilt.tsx'

export default function Chatbots() {
  return <NotBuilt title="Chatbots" />
}
