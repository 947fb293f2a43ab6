/**
 * Three replicas (the built binary when there is one) on PostgreSQL and Redis under mixed traffic for about 70 s
 * (long enough for a cron tick), one killed with SIGKILL mid-way and started again: usage records equal answers
 * (up to the killed replica's requests in flight), no hard budget overspent, a revoked key refused by every replica
 * within a second, every document indexed exactly once (each acknowledged upload among them), each cron tick run once, and no 5xx except on the killed
 * replica while it was down. The long version with figures: `bun bench/cluster.ts`.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { builtBinary, runCluster } from './cluster.ts'
import { killLeftovers } from './server-process.ts'

afterAll(killLeftovers)

describe.skipIf(!process.env.DATABASE_URL || !process.env.REDIS_URL)('three replicas on PostgreSQL and Redis', () => {
  test('mixed traffic through a SIGKILL and a restart', async () => {
    const report = await runCluster({ replicas: 3, durationMs: 70_000, killAtMs: 25_000, downMs: 2_000, concurrency: 4, binary: builtBinary() })
    console.log(JSON.stringify({ ...report, unexpectedFailures: report.unexpectedFailures.slice(0, 5) }))
    expect(report.unexpectedFailures).toEqual([])
    expect(report.answers).toBeGreaterThan(50)
    expect(report.records).toBeGreaterThanOrEqual(report.answers)
    expect(report.records - report.answers).toBeLessThanOrEqual(report.inFlightAtKill)
    expect(report.budget.spentMicros).toBeLessThanOrEqual(report.budget.limitMicros)
    expect(report.revocationMs.length).toBeGreaterThan(3)
    expect(Math.max(...report.revocationMs)).toBeLessThan(1_000)
    // Every stored document indexed once; every acknowledged upload among them; an upload whose answer was lost with
    // the killed replica may be stored (and then indexed) too.
    expect(report.documents.notIndexed).toBe(0)
    expect(report.documents.indexed).toBe(report.documents.stored)
    expect(report.documents.acknowledgedIndexed).toBe(report.documents.uploaded)
    expect(report.documents.stored - report.documents.uploaded).toBeLessThanOrEqual(report.documents.unacknowledgedAtKill)
    expect(report.documents.duplicateChunks).toBe(0)
    expect(report.cron.ticks).toBeGreaterThan(0)
    expect(report.cron.duplicates).toBe(0)
  }, 240_000)
})
