import type { Item } from './items.ts'

export type Send = (type: string, payload: Record<string, unknown>) => void

/**
 * The Responses streaming protocol as the official SDK's accumulator checks it: every event typed and numbered
 * (`sequence_number`), items added at the next `output_index` and finished with the same id, text and arguments as
 * deltas between an item's `added` and `done`. Without a `send` (a non-streamed request) it only keeps the output.
 *
 * Nothing is sent before `open()` (the first model call was accepted): until then a refusal can still be an HTTP
 * status. What happens before it (approved tool calls) is queued and follows `response.created`.
 */
export class ResponseEvents {
  readonly output: Item[] = []
  #seq = 0
  #opened = false
  #queue: [string, Record<string, unknown>][] = []

  constructor(readonly send: Send | null) {}

  get opened() {
    return this.#opened
  }

  #emit(type: string, payload: Record<string, unknown>) {
    if (!this.send) return
    if (!this.#opened) {
      this.#queue.push([type, payload])
      return
    }
    this.send(type, { type, sequence_number: this.#seq++, ...payload })
  }

  /** The response exists for the client: created and in progress, then whatever was queued. */
  open(snapshot: () => Record<string, unknown>) {
    if (this.#opened) return
    this.#opened = true
    if (!this.send) return
    this.send('response.created', { type: 'response.created', sequence_number: this.#seq++, response: snapshot() })
    this.send('response.in_progress', { type: 'response.in_progress', sequence_number: this.#seq++, response: snapshot() })
    for (const [type, payload] of this.#queue.splice(0)) this.#emit(type, payload)
  }

  /** The final event: response.completed, .incomplete or .failed with the whole response. */
  finish(type: 'response.completed' | 'response.incomplete' | 'response.failed', response: Record<string, unknown>) {
    if (this.#opened) this.#emit(type, { response })
  }

  #add(item: Item): number {
    const index = this.output.length
    this.output.push(item)
    this.#emit('response.output_item.added', { output_index: index, item: structuredClone(item) })
    return index
  }

  #done(index: number, item: Item) {
    this.output[index] = item
    this.#emit('response.output_item.done', { output_index: index, item })
  }

  /** An assistant message whose text streams in: `delta` per piece, `done` with the whole text. */
  message(id: string): { delta: (text: string) => void; done: () => Item | null } {
    let index = -1
    let text = ''
    const base = { id, type: 'message', role: 'assistant' }
    return {
      delta: (piece: string) => {
        if (index < 0) {
          index = this.#add({ ...base, status: 'in_progress', content: [] })
          this.#emit('response.content_part.added', { item_id: id, output_index: index, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } })
        }
        text += piece
        this.#emit('response.output_text.delta', { item_id: id, output_index: index, content_index: 0, delta: piece, logprobs: [] })
      },
      done: () => {
        if (index < 0) return null
        const part = { type: 'output_text', text, annotations: [], logprobs: [] }
        this.#emit('response.output_text.done', { item_id: id, output_index: index, content_index: 0, text, logprobs: [] })
        this.#emit('response.content_part.done', { item_id: id, output_index: index, content_index: 0, part })
        const item: Item = { ...base, status: 'completed', content: [part] }
        this.#done(index, item)
        return item
      },
    }
  }

  /** A call the client runs: its arguments as one delta (the model's were gathered first to know whose call it is). */
  functionCall(item: Item & { arguments: string; name: string }) {
    const index = this.#add({ ...item, arguments: '', status: 'in_progress' })
    this.#emit('response.function_call_arguments.delta', { item_id: item.id, output_index: index, delta: item.arguments })
    this.#emit('response.function_call_arguments.done', { item_id: item.id, output_index: index, name: item.name, arguments: item.arguments })
    this.#done(index, { ...item, status: 'completed' })
  }

  /** An item with nothing to stream (an approval request, a tool list known at once). */
  whole(item: Item) {
    const index = this.#add(item)
    this.#done(index, item)
  }

  /**
   * A tool Enclava runs (file_search, mcp, code_interpreter): added in progress with its arguments, the kind's own
   * progress events, then done with its result. `finish` gets the finished item.
   */
  toolCall(kind: 'file_search_call' | 'mcp_call' | 'code_interpreter_call', started: Item): (finished: Item) => void {
    const id = started.id
    if (kind === 'mcp_call') {
      const index = this.#add({ ...started, arguments: '', status: 'in_progress' })
      this.#emit('response.mcp_call_arguments.delta', { item_id: id, output_index: index, delta: started.arguments })
      this.#emit('response.mcp_call_arguments.done', { item_id: id, output_index: index, arguments: started.arguments })
      this.#emit('response.mcp_call.in_progress', { item_id: id, output_index: index })
      return (finished) => {
        this.#emit(finished.status === 'failed' ? 'response.mcp_call.failed' : 'response.mcp_call.completed', { item_id: id, output_index: index })
        this.#done(index, finished)
      }
    }
    if (kind === 'code_interpreter_call') {
      const index = this.#add({ ...started, code: '', status: 'in_progress' })
      this.#emit('response.code_interpreter_call.in_progress', { item_id: id, output_index: index })
      this.#emit('response.code_interpreter_call_code.delta', { item_id: id, output_index: index, delta: started.code })
      this.#emit('response.code_interpreter_call_code.done', { item_id: id, output_index: index, code: started.code })
      this.#emit('response.code_interpreter_call.interpreting', { item_id: id, output_index: index })
      return (finished) => {
        this.#emit('response.code_interpreter_call.completed', { item_id: id, output_index: index })
        this.#done(index, finished)
      }
    }
    const index = this.#add({ ...started, status: 'in_progress' })
    this.#emit('response.file_search_call.in_progress', { item_id: id, output_index: index })
    this.#emit('response.file_search_call.searching', { item_id: id, output_index: index })
    return (finished) => {
      this.#emit('response.file_search_call.completed', { item_id: id, output_index: index })
      this.#done(index, finished)
    }
  }

  /** An MCP server's tool list: listed in progress, completed (or failed) with the tools. */
  listTools(item: Item) {
    const index = this.#add({ ...item, tools: [] })
    this.#emit('response.mcp_list_tools.in_progress', { item_id: item.id, output_index: index })
    this.#emit(item.error ? 'response.mcp_list_tools.failed' : 'response.mcp_list_tools.completed', { item_id: item.id, output_index: index })
    this.#done(index, item)
  }
}
