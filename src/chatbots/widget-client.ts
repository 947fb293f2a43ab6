/**
 * The embeddable chat widget, as it runs in a visitor's browser. Bundled for the browser by widget.ts and served as
 * /widget.js:
 *
 * @example
 * <script src="https://enclava.example.com/widget.js" data-chatbot="<chatbot id>" data-key="en_..." async></script>
 *
 * Optional: data-title (header and button label), data-color (accent, a hex colour or a colour name).
 *
 * Everything the widget shows is set with textContent: answers, sources and error messages are data, never markup.
 * The conversation id lives in this closure only; nothing goes to cookies or storage, and requests omit credentials.
 */

// The server's type check runs without the DOM library (it clashes with Bun's own types), so the few DOM members
// used here are declared locally; the browser test exercises every one of them.
interface WidgetEvent {
  readonly key?: string
  readonly shiftKey?: boolean
  preventDefault(): void
}
interface WidgetElement {
  textContent: string | null
  className: string
  hidden: boolean
  readonly style: { setProperty(name: string, value: string): void }
  scrollTop: number
  readonly scrollHeight: number
  append(...children: (WidgetElement | string)[]): void
  setAttribute(name: string, value: string): void
  getAttribute(name: string): string | null
  addEventListener(type: string, listener: (event: WidgetEvent) => void): void
  focus(): void
  remove(): void
  attachShadow(init: { mode: 'open' }): WidgetElement
}
interface WidgetControl extends WidgetElement {
  value: string
  disabled: boolean
}
interface WidgetDocument {
  readonly currentScript: (WidgetElement & { readonly src: string }) | null
  readonly body: WidgetElement | null
  createElement(tag: 'textarea' | 'button'): WidgetControl
  createElement(tag: string): WidgetElement
  createElementNS(namespace: string, tag: string): WidgetElement
  addEventListener(type: 'DOMContentLoaded', listener: () => void): void
}
declare const document: WidgetDocument

interface WidgetSource {
  index: number
  document_name: string
}
interface WidgetAnswer {
  response: string
  conversation_id: string
  sources: WidgetSource[]
  citations: WidgetSource[]
}

const MAX_MESSAGE = 4000
const SVG_NS = 'http://www.w3.org/2000/svg'
// Hex or a plain colour name: anything else (url(), expressions, ...) falls back to the default.
const SAFE_COLOR = /^(#[0-9a-f]{3,8}|[a-z]{3,20})$/i

const STYLE = `
:host{all:initial}
.frame{position:fixed;right:20px;bottom:20px;z-index:2147483000;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;text-align:left;--accent:#2457c5}
*{box-sizing:border-box}
button,textarea{font:inherit}
:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}
.bubble{width:56px;height:56px;border:0;border-radius:50%;background:var(--accent);color:#fff;cursor:pointer;display:grid;place-items:center;box-shadow:0 4px 14px rgba(0,0,0,.25)}
.bubble svg{width:26px;height:26px;fill:currentColor}
.panel{position:absolute;right:0;bottom:70px;width:min(360px,calc(100vw - 40px));height:min(520px,calc(100vh - 110px));display:flex;flex-direction:column;background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden}
.panel[hidden]{display:none}
.head{display:flex;align-items:center;justify-content:space-between;gap:8px;padding:10px 14px;background:var(--accent);color:#fff;font-weight:600}
.close{border:0;background:transparent;color:inherit;font-size:20px;line-height:1;cursor:pointer;padding:2px 6px;border-radius:6px}
.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px}
.msg{max-width:85%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}
.user{align-self:flex-end;background:var(--accent);color:#fff}
.bot{align-self:flex-start;background:#f1f3f5}
.pending{color:#57606a;font-style:italic}
.sources{margin:6px 0 0;padding:6px 0 0 16px;border-top:1px solid #d8dee4;font-size:12px;color:#57606a}
.status{margin:0;padding:6px 12px;color:#b42318;font-size:13px}
.status:empty{display:none}
form{display:flex;gap:8px;padding:10px;border-top:1px solid #e5e7eb}
textarea{flex:1;resize:none;padding:8px;border:1px solid #d0d7de;border-radius:8px;color:#1f2328;background:#fff}
.send{border:0;border-radius:8px;padding:0 14px;background:var(--accent);color:#fff;cursor:pointer}
.send:disabled{opacity:.6;cursor:default}
`

function el(tag: string, className: string, text?: string): WidgetElement {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

function chatIcon(): WidgetElement {
  const svg = document.createElementNS(SVG_NS, 'svg')
  svg.setAttribute('viewBox', '0 0 24 24')
  svg.setAttribute('aria-hidden', 'true')
  const path = document.createElementNS(SVG_NS, 'path')
  path.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 2-2z')
  svg.append(path)
  return svg
}

/** What a visitor should read for a failed request; the platform's own message for a rejected one is not shown. */
function errorText(status: number | null): string {
  if (status === null) return 'The chat service could not be reached from this website.'
  if (status === 401 || status === 403) return 'This website is not allowed to use this chat.'
  if (status === 404) return 'This chat is not available.'
  if (status === 429) return 'Too many messages. Please wait a minute and try again.'
  if (status === 400) return 'Your message could not be sent.'
  return 'The assistant is unavailable right now. Please try again later.'
}

function mount(script: WidgetElement & { readonly src: string }, body: WidgetElement): void {
  const chatbot = script.getAttribute('data-chatbot') ?? ''
  const key = script.getAttribute('data-key') ?? ''
  const title = script.getAttribute('data-title') || 'Chat'
  const color = script.getAttribute('data-color') ?? ''
  // Relative to the script's own URL, so a platform served under a path prefix works too.
  const endpoint = new URL(`api/v1/widget/${encodeURIComponent(chatbot)}/chat`, new URL('.', script.src)).href
  let conversationId: string | null = null
  let busy = false

  // Page rules reach the host element (and what it passes on by inheritance), never the shadow tree: so the
  // position, font and colours are set on a frame inside it.
  const host = el('enclava-chat', '')
  const root = host.attachShadow({ mode: 'open' })
  const frame = el('div', 'frame')
  if (SAFE_COLOR.test(color)) frame.style.setProperty('--accent', color)

  const bubble = el('button', 'bubble')
  bubble.setAttribute('type', 'button')
  bubble.setAttribute('aria-label', `Open chat: ${title}`)
  bubble.setAttribute('aria-expanded', 'false')
  bubble.setAttribute('aria-controls', 'enclava-panel')
  bubble.append(chatIcon())

  const panel = el('div', 'panel')
  panel.setAttribute('id', 'enclava-panel')
  panel.setAttribute('role', 'dialog')
  panel.setAttribute('aria-label', title)
  panel.hidden = true

  const close = el('button', 'close', '×')
  close.setAttribute('type', 'button')
  close.setAttribute('aria-label', 'Close chat')
  const head = el('div', 'head')
  head.append(el('span', '', title), close)

  const log = el('div', 'log')
  log.setAttribute('role', 'log')
  log.setAttribute('aria-live', 'polite')
  const status = el('p', 'status')
  status.setAttribute('role', 'alert')

  const form = el('form', '')
  const input = document.createElement('textarea')
  input.setAttribute('rows', '2')
  input.setAttribute('maxlength', String(MAX_MESSAGE))
  input.setAttribute('aria-label', 'Your message')
  input.setAttribute('placeholder', 'Ask a question…')
  const send = document.createElement('button')
  send.className = 'send'
  send.setAttribute('type', 'submit')
  send.textContent = 'Send'
  form.append(input, send)

  const style = el('style', '', STYLE)
  panel.append(head, log, status, form)
  frame.append(panel, bubble)
  root.append(style, frame)
  body.append(host)

  const setOpen = (open: boolean) => {
    panel.hidden = !open
    bubble.setAttribute('aria-expanded', String(open))
    bubble.setAttribute('aria-label', `${open ? 'Close' : 'Open'} chat: ${title}`)
    if (open) input.focus()
    else bubble.focus()
  }
  const addMessage = (who: 'user' | 'bot', text: string): WidgetElement => {
    const message = el('div', `msg ${who}`, text)
    log.append(message)
    log.scrollTop = log.scrollHeight
    return message
  }
  const showSources = (message: WidgetElement, answer: WidgetAnswer) => {
    const cited = answer.citations.length ? answer.citations : answer.sources
    const names = [...new Set(cited.map((s) => s.document_name))]
    if (!names.length) return
    const list = el('ul', 'sources')
    list.setAttribute('aria-label', 'Sources')
    for (const name of names) list.append(el('li', '', name))
    message.append(list)
  }

  // The message was not delivered: it leaves the log and goes back into the input, ready to be sent again.
  const fail = (sent: WidgetElement, pending: WidgetElement, text: string, code: number | null) => {
    sent.remove()
    pending.remove()
    status.textContent = errorText(code)
    if (!input.value) input.value = text
  }
  const ask = async (text: string) => {
    busy = true
    send.disabled = true
    status.textContent = ''
    const sent = addMessage('user', text)
    const pending = addMessage('bot', 'Thinking…')
    pending.className = 'msg bot pending'
    let answer: WidgetAnswer
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        credentials: 'omit',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify(conversationId ? { message: text, conversation_id: conversationId } : { message: text }),
      })
      if (!res.ok) {
        // A conversation the platform no longer has: the next message starts a new one.
        if (res.status === 404 && conversationId) conversationId = null
        return fail(sent, pending, text, res.status)
      }
      answer = (await res.json()) as WidgetAnswer
    } catch {
      // CORS refusals and network failures look the same from here.
      return fail(sent, pending, text, null)
    } finally {
      busy = false
      send.disabled = false
    }
    conversationId = answer.conversation_id
    pending.className = 'msg bot'
    pending.textContent = answer.response
    showSources(pending, answer)
    log.scrollTop = log.scrollHeight
  }

  const submit = () => {
    const text = input.value.trim()
    if (!text || busy) return
    input.value = ''
    void ask(text.slice(0, MAX_MESSAGE))
  }

  bubble.addEventListener('click', () => setOpen(panel.hidden))
  close.addEventListener('click', () => setOpen(false))
  root.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !panel.hidden) setOpen(false)
  })
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault()
      submit()
    }
  })
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    submit()
  })
}

// currentScript is only set while the script first runs, so it is read before anything waits.
const script = document.currentScript
if (script) {
  if (document.body) mount(script, document.body)
  else document.addEventListener('DOMContentLoaded', () => document.body && mount(script, document.body))
}

export {}
