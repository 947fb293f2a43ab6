import pino, { type Logger } from 'pino'

export type { Logger }

/**
 * JSON lines on stdout. Anything that may carry a secret is redacted by path, so a careless
 * `log.info({ body })` cannot leak a password or key.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'enclava' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          'password',
          '*.password',
          '*.new_password',
          '*.current_password',
          'authorization',
          '*.authorization',
          'headers["x-api-key"]',
          '*.key',
          'key',
          'refresh_token',
          '*.refresh_token',
          'access_token',
          '*.access_token',
        ],
        censor: '[redacted]',
      },
    },
    // Synchronous: a line is written before the call returns, so nothing is lost when the process exits or
    // crashes (asynchronous writes dropped the last lines at shutdown).
    destination ?? pino.destination({ fd: 1, sync: true }),
  )
}
