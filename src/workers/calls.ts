/**
 * Calls to one long-lived worker thread, for work that would hold the server thread (token counts and DLP scans of
 * megabyte bodies): each call posts `{id, ...request}` and waits for `{id, result}` or `{id, error}`. A worker that
 * crashes fails what was waiting (naming `what`) and is started again on the next call. It never keeps the process
 * alive at shutdown.
 *
 * `start` must construct the Worker from a literal `new URL('./file.ts', import.meta.url)` at the call site: the
 * single binary's build finds worker entry points by that form (scripts/build.ts).
 */
export class WorkerCalls<Request extends object, Result> {
  #worker: Worker | null = null
  #seq = 0
  readonly #waiting = new Map<number, { resolve: (result: Result) => void; reject: (err: Error) => void }>()

  constructor(
    readonly start: () => Worker,
    readonly what: string,
  ) {}

  call(request: Request): Promise<Result> {
    const id = ++this.#seq
    return new Promise<Result>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject })
      this.#running().postMessage({ ...request, id })
    })
  }

  #running(): Worker {
    if (this.#worker) return this.#worker
    const w = this.start()
    w.onmessage = (event: MessageEvent<{ id: number; result?: Result; error?: string }>) => {
      const entry = this.#waiting.get(event.data.id)
      this.#waiting.delete(event.data.id)
      if (event.data.error === undefined) entry?.resolve(event.data.result as Result)
      else entry?.reject(new Error(`${this.what} failed: ${event.data.error}`))
    }
    w.onerror = (event) => {
      for (const entry of this.#waiting.values()) entry.reject(new Error(`${this.what} failed: ${event.message}`))
      this.#waiting.clear()
      this.#worker = null
      w.terminate()
    }
    w.unref()
    this.#worker = w
    return w
  }
}

/** The worker's side: answers each call with `handle`'s result, or its error's message. */
export function answerCalls<Request extends object, Result>(self: Worker, handle: (request: Request) => Result): void {
  self.onmessage = (event: MessageEvent<Request & { id: number }>) => {
    const { id } = event.data
    try {
      self.postMessage({ id, result: handle(event.data) })
    } catch (err) {
      self.postMessage({ id, error: (err as Error).message })
    }
  }
}
