/**
 * Chatbots: the list (`/chatbots`), one chatbot's builder with its test chat, conversations and widget
 * (`/chatbots/:id`), and the prompt templates (`/chatbots/templates`; a chatbot id is a UUID, so it never collides).
 */
import { Match, Switch } from 'solid-js'
import { useParams } from '@solidjs/router'
import { Gate } from '../ui.tsx'
import { ChatbotList } from './chatbots/List.tsx'
import { ChatbotBuilder } from './chatbots/Builder.tsx'
import { TemplatesView } from './chatbots/Templates.tsx'
import './Chatbots.css'

export default function Chatbots() {
  const params = useParams()
  return (
    <Gate title="Chatbots" permission="chatbots:use" what="build or use chatbots">
    <Switch>
      <Match when={!params.id}><ChatbotList /></Match>
      <Match when={params.id === 'templates'}><TemplatesView /></Match>
      {/* Keyed: another chatbot's id starts a fresh builder instead of reusing this one's form state. */}
      <Match when={params.id} keyed>{(id) => <ChatbotBuilder id={id} />}</Match>
    </Switch>
    </Gate>
  )
}
