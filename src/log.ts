import pino, { type Logger } from 'pino'

export type { Logger }

/** Fields that may carry a secret, wherever they appear in the top two levels of a log object. */
const SECRET_FIELDS = new Set([
  'password',
  'new_password',
  'current_password',
  'authorization',
  'x-api-key',
  'api_key',
  'key',
  'refresh_token',
  'access_token',
])
const CENSOR = '[redacted]'

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Error)

function censorLevel(obj: Record<string, unknown>, nested: boolean): Record<string, unknown> {
  let out: Record<string, unknown> | undefined
  for (const k in obj) {
    const v = obj[k]
    const next = SECRET_FIELDS.has(k.toLowerCase()) ? CENSOR : nested && isPlainObject(v) ? censorLevel(v, false) : v
    if (next !== v) (out ??= { ...obj })[k] = next
  }
  return out ?? obj
}

/**
 * Censors secret fields at the top level and one level down, copying only what it changes (the caller's object is
 * left alone). A key-name check per field: pino's path-based redaction cost more per line than writing the line.
 */
export function redactSecrets(obj: Record<string, unknown>): Record<string, unknown> {
  return censorLevel(obj, true)
}

/**
 * JSON lines on stdout. Anything that may carry a secret is redacted by field name, so a careless
 * `log.info({ body })` cannot leak a password or key.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'enclava' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: redactSecrets },
    },
    // Synchronous: a line is written before the call returns, so nothing is lost when the process exits or
    // crashes (asynchronous writes dropped the last lines at shutdown).
    destination ?? pino.destination({ fd: 1, sync: true }),
  )
}
