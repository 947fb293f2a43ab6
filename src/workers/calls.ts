/**
 * Calls to one long-lived worker thread, for work that would hold the server thread (token counts and DLP scans of
 * megabyte bodies): each call posts `{id, ...request}` and waits for `{id, result}` or `{id, error}`. A worker that
 * crashes fails what was waiting (naming `what`) and is started again on the next call. It keeps the process alive
 * only while a call waits for its answer: an idle worker is unref'd, and Bun's loop, left with nothing ref'd while a
 * promise waited on an unref'd worker, spun (its thread spent the wait in clock_gettime; src/workers/calls.test.ts).
 *
 * `start` must construct the Worker from a literal `new URL('./file.ts', import.meta.url)` at the call site: the
 * single binary's build finds worker entry points by that form (scripts/build.ts).
 */
export class WorkerCalls<Request extends object, Result> {
  #worker: Worker | null = null
  #seq = 0
  readonly #waiting = new Map<number, { resolve: (result: Result) => void; reject: (err: Error) => void }>()
  #idleTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    readonly start: () => Worker,
    readonly what: string,
    /** With `idleMs`, a worker that has had nothing to do for that long is stopped (and started again when called). */
    readonly options: { idleMs?: number } = {},
  ) {}

  /** Calls waiting for their answer. */
  get pending(): number {
    return this.#waiting.size
  }

  /** Whether the worker is started. */
  get running(): boolean {
    return this.#worker !== null
  }

  /** `transfer`: buffers handed to the worker instead of copied (unusable here afterwards). */
  call(request: Request, transfer: ArrayBuffer[] = []): Promise<Result> {
    const id = ++this.#seq
    clearTimeout(this.#idleTimer)
    return new Promise<Result>((resolve, reject) => {
      const w = this.#running()
      if (this.#waiting.size === 0) w.ref()
      this.#waiting.set(id, { resolve, reject })
      w.postMessage({ ...request, id }, transfer)
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
      if (this.#waiting.size === 0) w.unref()
      if (this.#waiting.size === 0 && this.options.idleMs !== undefined) {
        clearTimeout(this.#idleTimer)
        this.#idleTimer = setTimeout(() => this.#stopIdle(w), this.options.idleMs)
        this.#idleTimer.unref?.()
      }
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

  #stopIdle(w: Worker): void {
    if (this.#worker !== w || this.#waiting.size > 0) return
    this.#worker = null
    w.terminate()
  }
}

/** The worker's side: answers each call with `handle`'s result (awaited when it is a promise), or its error's message. */
export function answerCalls<Request extends object, Result>(self: Worker, handle: (request: Request) => Result | Promise<Result>): void {
  self.onmessage = (event: MessageEvent<Request & { id: number }>) => {
    const { id } = event.data
    const fail = (err: unknown) => self.postMessage({ id, error: (err as Error).message })
    try {
      const result = handle(event.data)
      if (result instanceof Promise) result.then((r) => self.postMessage({ id, result: r }), fail)
      else self.postMessage({ id, result })
    } catch (err) {
      fail(err)
    }
  }
}
