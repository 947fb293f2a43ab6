/**
 * Per-provider circuit breaker: after `threshold` consecutive failures the circuit opens and calls fail fast for
 * `openMs`; then one trial call is let through (half-open) and its outcome closes or re-opens the circuit.
 */
export class CircuitBreaker {
  #failures = 0
  #openedAt: number | null = null
  #trialInFlight = false

  constructor(
    readonly threshold = 5,
    readonly openMs = 30_000,
  ) {}

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.#openedAt === null) return 'closed'
    return Date.now() - this.#openedAt >= this.openMs ? 'half-open' : 'open'
  }

  /** False when the call must not be attempted. */
  allow(): boolean {
    const state = this.state
    if (state === 'closed') return true
    if (state === 'open' || this.#trialInFlight) return false
    this.#trialInFlight = true
    return true
  }

  success(): void {
    this.#failures = 0
    this.#openedAt = null
    this.#trialInFlight = false
  }

  /** The call let through ended without saying anything about the upstream (the client went away). */
  abandon(): void {
    this.#trialInFlight = false
  }

  failure(): void {
    this.#failures++
    if (this.#trialInFlight || this.#failures >= this.threshold) this.#openedAt = Date.now()
    this.#trialInFlight = false
  }

  get consecutiveFailures(): number {
    return this.#failures
  }
}
