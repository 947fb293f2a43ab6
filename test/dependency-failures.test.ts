/** A failing database or cache is an outage: a clear 503 in the error envelope, readiness fails, no stack trace. */
import { describe, expect, test } from 'bun:test'
import { createTestEnv } from './harness.ts'

describe('when the database goes away', () => {
  test('requests get 503 service_unavailable and readiness reports the database', async () => {
    const env = await createTestEnv()
    try {
      const token = await env.adminToken()
      await env.db.sql.end({ timeout: 1 })

      const login = await env.call('POST', '/api-internal/v1/auth/login', {
        body: { email: 'admin@test.local', password: 'whatever-it-is' },
      })
      expect(login.status).toBe(503)
      expect(login.body.error).toMatchObject({ code: 'service_unavailable', type: 'server_error' })
      expect(login.body.error.message).toContain('database')
      expect(login.headers.get('retry-after')).toBe('5')
      expect(JSON.stringify(login.body)).not.toMatch(/\s+at |\.ts:\d+/)

      expect((await env.call('GET', '/api-internal/v1/auth/me', { token })).status).toBe(503)

      const ready = await env.call('GET', '/health/ready')
      expect(ready.status).toBe(503)
      expect(ready.body.status).toBe('unavailable')
      expect(ready.body.checks.database).toStartWith('failing')
      expect((await env.call('GET', '/health')).status).toBe(200)
    } finally {
      await env.close()
    }
  })
})

describe('when the cache goes away', () => {
  test('readiness reports the cache', async () => {
    const env = await createTestEnv()
    try {
      await env.cache.close()
      const ready = await env.call('GET', '/health/ready')
      expect(ready.status).toBe(503)
      expect(ready.body.checks.cache).toStartWith('failing')
      expect(ready.body.checks.database).toBe('ok')
    } finally {
      await env.close()
    }
  })
})
