/**
 * Evidence of where data went: every usage record of a user, a key or both over a period, each saying which provider
 * served it and whether confidentially (in a TEE, through privatemode's attested proxy), with a summary by provider
 * and the providers' attestation as known now. The records are what an auditor checks; `records_sha256` is the
 * SHA-256 of their CSV, and it is written to the audit log with every export, so a copy handed over later can be
 * checked against the log.
 */
import { createHash } from 'node:crypto'
import { t } from 'elysia'
import { csvCell } from '../audit/csv.ts'
import type { Sql } from '../db/client.ts'

export const CONFIDENTIALITY_MAX_ROWS = 100_000

export const ConfidentialityQuery = t.Object({
  /** Default: the signed-in user (another user's needs analytics:read_all). */
  user_id: t.Optional(t.String({ format: 'uuid' })),
  api_key_id: t.Optional(t.String({ format: 'uuid' })),
  /** Default: 30 days before `until`. */
  since: t.Optional(t.String({ format: 'date-time' })),
  /** Default: now. */
  until: t.Optional(t.String({ format: 'date-time' })),
  format: t.Union([t.Literal('json'), t.Literal('csv')], { default: 'json' }),
  limit: t.Integer({ minimum: 1, maximum: CONFIDENTIALITY_MAX_ROWS, default: CONFIDENTIALITY_MAX_ROWS }),
})

export interface EvidenceRecord {
  created_at: Date
  request_id: string | null
  source: string
  user_id: string | null
  api_key_id: string | null
  model: string
  provider: string | null
  confidential: boolean
  endpoint: string
  status: number
  error_code: string | null
  prompt_tokens: number
  completion_tokens: number
}

export const EVIDENCE_COLUMNS: (keyof EvidenceRecord)[] = [
  'created_at',
  'request_id',
  'source',
  'user_id',
  'api_key_id',
  'model',
  'provider',
  'confidential',
  'endpoint',
  'status',
  'error_code',
  'prompt_tokens',
  'completion_tokens',
]

export const evidenceCsv = (rows: readonly EvidenceRecord[]) =>
  [EVIDENCE_COLUMNS.join(','), ...rows.map((r) => EVIDENCE_COLUMNS.map((c) => csvCell(r[c])).join(','))].join('\r\n') + '\r\n'

export interface EvidenceFilter {
  userId: string | null
  apiKeyId: string | null
  since: Date
  until: Date
  limit: number
}

export async function confidentialityEvidence(sql: Sql, f: EvidenceFilter) {
  const where = sql`
    WHERE created_at >= ${f.since} AND created_at < ${f.until}
      AND (${f.userId}::uuid IS NULL OR user_id = ${f.userId}) AND (${f.apiKeyId}::uuid IS NULL OR api_key_id = ${f.apiKeyId})`
  const records = [
    ...(await sql<EvidenceRecord[]>`
      SELECT created_at, request_id, source, user_id, api_key_id, model, provider, is_tee AS confidential, endpoint, status, error_code,
        prompt_tokens, completion_tokens
      FROM usage_records ${where} ORDER BY created_at, id LIMIT ${f.limit}`),
  ]
  const byProvider = await sql<{ provider: string | null; confidential: boolean; requests: number; served: number }[]>`
    SELECT provider, is_tee AS confidential, count(*)::int AS requests, count(*) FILTER (WHERE status < 400)::int AS served
    FROM usage_records ${where} GROUP BY provider, is_tee ORDER BY requests DESC`
  const total = byProvider.reduce((n, p) => n + p.requests, 0)
  const confidential = byProvider.filter((p) => p.confidential).reduce((n, p) => n + p.requests, 0)
  const csv = evidenceCsv(records)
  return {
    records,
    csv,
    summary: {
      requests: total,
      confidential,
      not_confidential: total - confidential,
      confidential_share: total ? Math.round((confidential / total) * 10_000) / 10_000 : null,
      by_provider: [...byProvider],
    },
    truncated: records.length < total,
    records_sha256: createHash('sha256').update(csv).digest('hex'),
  }
}
