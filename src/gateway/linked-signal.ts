/**
 * An abort signal that follows `outer` and adds a timer of its own, both released the moment the caller says so.
 * Unlike `AbortSignal.any` with `AbortSignal.timeout`, the timer can stop early while `outer` still applies (an
 * upstream's head timer must not cut the body that follows), and nothing fires after the exchange is over.
 */
export interface LinkedSignal {
  readonly signal: AbortSignal
  /** The timer fired, or `expire` was called (as opposed to `outer` or `abort`). */
  readonly timedOut: boolean
  abort(): void
  /** Ends it now as a timeout of another kind (say, the connection could not be made), with that message. */
  expire(message: string): void
  /** The timer no longer applies; `outer` still does. */
  stopTimer(): void
  /** Nothing of this signal fires any more. */
  release(): void
}

export function linkedSignal(outer: AbortSignal, timeoutMs: number, timeoutMessage: string): LinkedSignal {
  const ctl = new AbortController()
  let timedOut = false
  const follow = () => ctl.abort(outer.reason)
  if (outer.aborted) ctl.abort(outer.reason)
  else outer.addEventListener('abort', follow, { once: true })
  const timer = setTimeout(() => {
    timedOut = true
    ctl.abort(new DOMException(timeoutMessage, 'TimeoutError'))
  }, timeoutMs)
  return {
    signal: ctl.signal,
    get timedOut() {
      return timedOut
    },
    abort: () => ctl.abort(),
    expire: (message: string) => {
      if (ctl.signal.aborted) return
      timedOut = true
      ctl.abort(new DOMException(message, 'TimeoutError'))
    },
    stopTimer: () => clearTimeout(timer),
    release: () => {
      clearTimeout(timer)
      outer.removeEventListener('abort', follow)
    },
  }
}
