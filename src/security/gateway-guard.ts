import type { AuditLog } from '../audit/service.ts'
import type { Caller } from '../gateway/service.ts'
import type { ResolvedModel } from '../gateway/registry.ts'
import { ApiError } from '../http/errors.ts'
import type { Logger } from '../log.ts'
import { describeCounts, type DlpCounts, type DlpResult } from './dlp.ts'
import { guardBody } from './dlp-pool.ts'
import { requireConfidential, type CallerPolicies, type CallerPolicy } from './policy.ts'
import type { SecuritySettings } from './settings.ts'

/**
 * What the gateway asks of security on every model call: the caller's policy, whether a model may serve it, and the
 * body as it may leave for a given provider (unchanged for a confidential one; redacted, or refused, for the rest).
 */
export class GatewayGuard {
  readonly #policies: CallerPolicies
  readonly #settings: SecuritySettings
  readonly #audit: AuditLog
  readonly #log: Logger

  constructor(deps: { policies: CallerPolicies; settings: SecuritySettings; audit: AuditLog; log: Logger }) {
    this.#policies = deps.policies
    this.#settings = deps.settings
    this.#audit = deps.audit
    this.#log = deps.log
  }

  policy(caller: Caller): Promise<CallerPolicy> {
    return this.#policies.of(caller)
  }

  /** Throws 403 confidentiality_required (and records it) when the policy forbids the model. */
  require(caller: Caller, model: ResolvedModel, policy: CallerPolicy): void {
    try {
      requireConfidential(model, policy)
    } catch (err) {
      this.#record(caller, 'security.confidentiality_refused', 'denied', model, { required_by: policy.confidentialOnlyBy })
      throw err
    }
  }

  /**
   * The body to send to a provider: as it is for a confidential one or with DLP off; otherwise searched once (the
   * answer is kept for a fallback) and redacted, or refused with 400 dlp_blocked naming the kinds found. Every find
   * is an audit event with the kinds and counts, never the text.
   */
  outgoing<T extends object>(caller: Caller, policy: CallerPolicy, endpoint: 'chat' | 'embeddings', body: T): (served: ResolvedModel) => Promise<T> {
    let scanned: Promise<DlpResult<T>> | null = null
    return async (served) => {
      if (served.confidential || policy.dlpMode === 'off') return body
      let first = false
      if (!scanned) {
        first = true
        scanned = guardBody(endpoint, body, { contacts: this.#settings.current.dlp_detect_contacts })
      }
      const result = await scanned
      if (first && result.total > 0) this.#found(caller, served, policy, endpoint, result.counts)
      if (result.total === 0) return body
      if (policy.dlpMode === 'block')
        throw new ApiError(
          'dlp_blocked',
          `This request was not sent: data-loss prevention found ${describeCounts(result.counts)} in it, and the model '${served.id}' is served ` +
            `outside the TEE (provider ${served.provider.name}). Remove them, or use a confidential model`,
          endpoint === 'chat' ? 'messages' : 'input',
        )
      return result.body
    }
  }

  #found(caller: Caller, served: ResolvedModel, policy: CallerPolicy, endpoint: string, counts: DlpCounts): void {
    const blocked = policy.dlpMode === 'block'
    this.#log.warn({ request_id: caller.requestId, model: served.id, provider: served.provider.name, dlp: counts, mode: policy.dlpMode }, 'data-loss prevention found data leaving the TEE')
    this.#record(caller, blocked ? 'security.dlp_blocked' : 'security.dlp_redacted', blocked ? 'denied' : 'success', served, {
      kinds: counts,
      endpoint,
      provider: served.provider.name,
      source: caller.source,
    })
  }

  /** Off the request path: the answer does not wait for the audit write (a failed write is logged). */
  #record(caller: Caller, action: string, outcome: 'success' | 'denied', model: ResolvedModel, details: Record<string, unknown>): void {
    void this.#audit
      .record(
        {
          action,
          outcome,
          actor: { userId: caller.userId, apiKeyId: caller.apiKey?.id ?? null, label: caller.apiKey ? `key ${caller.apiKey.name}` : null },
          resource: { type: 'model', id: model.id },
          details: { provider: model.provider.name, ...details },
        },
        { requestId: caller.requestId, ip: null, userAgent: null },
      )
      .catch((err) => this.#log.error({ err: (err as Error).message, action }, 'security event not written'))
  }
}
