/** The stable error codes of both APIs. A code never changes meaning; clients may switch on it. */
export const ErrorCodes = {
  invalid_request: 400,
  invalid_json: 400,
  validation_failed: 400,
  /** Data-loss prevention refused to send the request to a provider outside the TEE (the message names the kinds found). */
  dlp_blocked: 400,
  invalid_api_key: 401,
  invalid_credentials: 401,
  invalid_token: 401,
  refresh_token_reused: 401,
  authentication_required: 401,
  permission_denied: 403,
  account_disabled: 403,
  password_change_required: 403,
  registration_disabled: 403,
  ip_not_allowed: 403,
  endpoint_not_allowed: 403,
  model_not_allowed: 403,
  /** A confidential-only policy (platform, user, key, chatbot, agent) refused a model that is not served in a TEE. */
  confidentiality_required: 403,
  /** Threat detection suspended the key (an anomaly); an administrator reinstates it. */
  api_key_suspended: 403,
  budget_exceeded: 402,
  not_found: 404,
  model_not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  /** A plugin whose code or manifest cannot be loaded (the message names the cause). */
  plugin_invalid: 422,
  account_locked: 423,
  rate_limit_exceeded: 429,
  /** The client's address is blocked for a while (credential stuffing, probing, or an administrator); Retry-After. */
  ip_blocked: 429,
  internal_error: 500,
  stored_file_unreadable: 500,
  plugin_error: 500,
  plugin_limit_exceeded: 500,
  upstream_error: 502,
  service_unavailable: 503,
  /** An administrator disabled the module the route belongs to (chatbots, rag, agents, plugins, playground). */
  module_disabled: 503,
  provider_unavailable: 503,
  upstream_timeout: 504,
} as const

export type ErrorCode = keyof typeof ErrorCodes

/** OpenAI's `type` field, derived from the status so both stay consistent. */
export function errorType(status: number): string {
  if (status === 401) return 'authentication_error'
  if (status === 403) return 'permission_error'
  if (status === 404) return 'not_found_error'
  if (status === 402) return 'insufficient_quota'
  if (status === 429) return 'rate_limit_error'
  if (status >= 500) return 'server_error'
  return 'invalid_request_error'
}

/** An expected failure with a stable code; thrown by services and turned into the error envelope. */
export class ApiError extends Error {
  readonly status: number
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly param?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message)
    this.status = ErrorCodes[code]
  }
}

export interface ErrorBody {
  error: { message: string; type: string; code: string; param: string | null; request_id: string }
}

/** The one error envelope of both APIs: OpenAI's shape plus the request id. */
export function errorBody(status: number, code: string, message: string, requestId: string, param?: string): ErrorBody {
  return { error: { message, type: errorType(status), code, param: param ?? null, request_id: requestId } }
}
