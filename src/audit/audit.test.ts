import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ADMIN_EMAIL, createTestEnv, type TestEnv } from '../../test/harness.ts'
import { auditCsv, csvCell } from './csv.ts'

const AUDIT = '/api-internal/v1/audit'
let env: TestEnv
let admin: string

beforeAll(async () => {
  env = await createTestEnv()
  admin = await env.adminToken()
  // A failed sign-in whose typed email a spreadsheet would run as a formula.
  await env.call('POST', '/api-internal/v1/auth/login', { body: { email: '=HYPERLINK("x","y"),evil', password: 'whatever-password' } })
})
afterAll(() => env.close())

/** Parses the export's CSV (quoted fields, doubled quotes, CRLF rows). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++
      else if (c === '"') quoted = false
      else cell += c
    } else if (c === '"') quoted = true
    else if (c === ',') row.push(cell), (cell = '')
    else if (c === '\r' && text[i + 1] === '\n') row.push(cell), rows.push(row), (row = []), (cell = ''), i++
    else cell += c
  }
  return rows
}

describe('csv', () => {
  test.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['=1+1', "'=1+1"],
    ['-2', "'-2"],
    ['@cmd', "'@cmd"],
    [null, ''],
    [{ a: 1 }, '"{""a"":1}"'],
  ])('%p becomes %p', (input, output) => {
    expect(csvCell(input)).toBe(output)
  })

  test('a header row, then one CRLF row per record', () => {
    const text = auditCsv([])
    expect(text).toStartWith('id,created_at,actor_user_id,actor_email')
    expect(text.endsWith('\r\n')).toBe(true)
  })
})

describe('search', () => {
  test('filters by part of the actor email, case-insensitively, and joins the actor email', async () => {
    const res = await env.call('GET', `${AUDIT}?actor=${encodeURIComponent(ADMIN_EMAIL.toUpperCase().slice(0, 8))}&action=auth.login`, { token: admin })
    expect(res.status).toBe(200)
    expect(res.body.total).toBeGreaterThan(0)
    for (const r of res.body.data) {
      expect(r.action).toBe('auth.login')
      expect(r.actor_email).toBe(ADMIN_EMAIL)
    }
  })

  test('a LIKE wildcard in the actor filter is taken literally', async () => {
    const res = await env.call('GET', `${AUDIT}?actor=${encodeURIComponent('%')}`, { token: admin })
    expect(res.status).toBe(200)
    expect(res.body.total).toBe(0)
  })

  test('facets list the actions and resource types that occur', async () => {
    const res = await env.call('GET', `${AUDIT}/facets`, { token: admin })
    expect(res.status).toBe(200)
    expect(res.body.actions).toContain('auth.login')
    expect(Array.isArray(res.body.resource_types)).toBe(true)
  })

  test('one event by id; an unknown one is a 404, a malformed one a 400', async () => {
    const list = await env.call('GET', `${AUDIT}?limit=1`, { token: admin })
    const id = list.body.data[0].id as string
    const one = await env.call('GET', `${AUDIT}/${id}`, { token: admin })
    expect(one.status).toBe(200)
    expect(one.body.id).toBe(id)
    expect((await env.call('GET', `${AUDIT}/999999999`, { token: admin })).status).toBe(404)
    expect((await env.call('GET', `${AUDIT}/abc`, { token: admin })).status).toBe(400)
  })

  test('a user without audit:read is refused every route', async () => {
    const u = await env.user('user')
    for (const path of [`${AUDIT}/`, `${AUDIT}/facets`, `${AUDIT}/export?format=csv`, `${AUDIT}/1`]) {
      const res = await env.call('GET', path, { token: u.token })
      expect({ path, status: res.status }).toEqual({ path, status: 403 })
    }
  })
})

describe('export', () => {
  test('CSV: attachment with a header row, the filter applied, formula cells defused', async () => {
    const res = await env.call('GET', `${AUDIT}/export?format=csv&action=auth.login&outcome=failure`, { token: admin })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('text/csv')
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="audit-log-.+\.csv"$/)
    const rows = parseCsv(res.body as string)
    const header = rows[0] ?? []
    expect(header[0]).toBe('id')
    const col = (name: string) => header.indexOf(name)
    expect(rows.length).toBeGreaterThan(1)
    for (const row of rows.slice(1)) {
      expect(row).toHaveLength(header.length)
      expect(row[col('action')]).toBe('auth.login')
      expect(row[col('outcome')]).toBe('failure')
    }
    const evil = rows.find((r) => r[col('actor_label')]?.includes('HYPERLINK'))
    expect(evil?.[col('actor_label')]).toBe(`'=HYPERLINK("x","y"),evil`)
    expect(JSON.parse(evil?.[col('details')] ?? '')).toEqual({ reason: 'unknown_email' })
  })

  test('JSON: the filtered events with their total; the export itself is audited', async () => {
    const res = await env.call('GET', `${AUDIT}/export?format=json&action=auth.login&limit=2`, { token: admin })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('application/json')
    expect(res.body.data.length).toBeLessThanOrEqual(2)
    expect(res.body.filters).toEqual({ action: 'auth.login' })
    for (const r of res.body.data) expect(r.action).toBe('auth.login')
    expect(res.headers.get('x-truncated')).toBe(String(res.body.total > res.body.data.length))
    const audited = await env.call('GET', `${AUDIT}?action=audit.export&limit=5`, { token: admin })
    expect(audited.body.data.map((r: { details: { format: string } }) => r.details.format)).toEqual(expect.arrayContaining(['csv', 'json']))
  })

  test('an unknown format is a 400', async () => {
    expect((await env.call('GET', `${AUDIT}/export?format=xml`, { token: admin })).status).toBe(400)
  })
})
