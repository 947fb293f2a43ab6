/**
 * Markdown from a model, shown formatted and safe: marked's lexer turns the text into tokens, and each token becomes
 * a DOM element built here, text as text nodes. No HTML string is ever parsed into the page, so a model (or a
 * document it quotes) cannot inject markup or script: raw HTML in the answer is shown as the text it is, links only
 * go to http(s) and mailto addresses (in a new tab, without referrer), and images are shown as links instead of
 * being fetched. Headings become bold paragraphs so an answer never disturbs the page's heading outline.
 *
 * @example
 * <Markdown text={answer()} />
 */
import { createMemo, For, Show, type JSX } from 'solid-js'
import { Lexer, type Token, type Tokens } from 'marked'
import { CopyButton } from './ui.tsx'

const SAFE_URL = /^(https?:|mailto:)/i

function inline(tokens: Token[] | undefined): JSX.Element {
  return <For each={tokens ?? []}>{(t) => inlineToken(t)}</For>
}

function inlineToken(t: Token): JSX.Element {
  switch (t.type) {
    case 'strong':
      return <strong>{inline((t as Tokens.Strong).tokens)}</strong>
    case 'em':
      return <em>{inline((t as Tokens.Em).tokens)}</em>
    case 'del':
      return <del>{inline((t as Tokens.Del).tokens)}</del>
    case 'codespan':
      return <code>{(t as Tokens.Codespan).text}</code>
    case 'br':
      return <br />
    case 'link': {
      const link = t as Tokens.Link
      return SAFE_URL.test(link.href) ? (
        <a href={link.href} target="_blank" rel="noopener noreferrer nofollow">{inline(link.tokens)}</a>
      ) : (
        <>{inline(link.tokens)}</>
      )
    }
    case 'image': {
      const image = t as Tokens.Image
      const label = image.text || image.href
      return SAFE_URL.test(image.href) ? <a href={image.href} target="_blank" rel="noopener noreferrer nofollow">{label}</a> : <>{label}</>
    }
    case 'text': {
      const text = t as Tokens.Text
      return text.tokens ? inline(text.tokens) : <>{text.text}</>
    }
    case 'escape':
      return <>{(t as Tokens.Escape).text}</>
    default:
      // Raw HTML and anything unknown: the text as written.
      return <>{(t as { raw?: string }).raw ?? ''}</>
  }
}

function CodeBlock(props: { code: Tokens.Code }) {
  return (
    <div class="code-block">
      <Show when={props.code.lang}><span class="code-lang">{props.code.lang}</span></Show>
      <pre><code>{props.code.text}</code></pre>
      <CopyButton text={props.code.text} label="Copy code" iconOnly />
    </div>
  )
}

function block(t: Token): JSX.Element {
  switch (t.type) {
    case 'space':
      return null
    case 'paragraph':
      return <p>{inline((t as Tokens.Paragraph).tokens)}</p>
    case 'heading':
      return <p class="md-heading"><strong>{inline((t as Tokens.Heading).tokens)}</strong></p>
    case 'code':
      return <CodeBlock code={t as Tokens.Code} />
    case 'blockquote':
      return <blockquote>{blocks((t as Tokens.Blockquote).tokens)}</blockquote>
    case 'hr':
      return <hr />
    case 'list': {
      const list = t as Tokens.List
      const items = (
        <For each={list.items}>
          {(item) => (
            <li>
              <Show when={item.task}><input type="checkbox" checked={item.checked ?? false} disabled aria-label={item.checked ? 'done' : 'to do'} /></Show>
              {blocks(item.tokens)}
            </li>
          )}
        </For>
      )
      return list.ordered ? <ol start={list.start === '' ? undefined : list.start}>{items}</ol> : <ul>{items}</ul>
    }
    case 'table': {
      const table = t as Tokens.Table
      return (
        <div class="md-table">
          <table>
            <thead>
              <tr><For each={table.header}>{(c) => <th style={c.align ? { 'text-align': c.align } : undefined}>{inline(c.tokens)}</th>}</For></tr>
            </thead>
            <tbody>
              <For each={table.rows}>{(row) => <tr><For each={row}>{(c) => <td style={c.align ? { 'text-align': c.align } : undefined}>{inline(c.tokens)}</td>}</For></tr>}</For>
            </tbody>
          </table>
        </div>
      )
    }
    case 'text': {
      // Text directly inside a tight list item.
      const text = t as Tokens.Text
      return text.tokens ? inline(text.tokens) : <>{text.text}</>
    }
    default:
      return <p>{(t as { raw?: string }).raw ?? ''}</p>
  }
}

function blocks(tokens: Token[]): JSX.Element {
  return <For each={tokens}>{(t) => block(t)}</For>
}

/** GitHub-flavoured, single newlines kept as line breaks (how chat answers are written). */
const OPTIONS = { gfm: true, breaks: true }

export function Markdown(props: { text: string; class?: string }) {
  const tokens = createMemo(() => {
    try {
      // A Lexer keeps state between calls: a fresh one per text.
      return new Lexer(OPTIONS).lex(props.text)
    } catch {
      return null
    }
  })
  return (
    <div class={`md ${props.class ?? ''}`}>
      {/* `each` read here, not in a callback: the answer re-renders as it streams in. */}
      <Show when={tokens()} fallback={<p>{props.text}</p>}>
        <For each={tokens() ?? []}>{(t) => block(t)}</For>
      </Show>
    </div>
  )
}
