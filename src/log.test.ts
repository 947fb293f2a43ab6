import { expect, test } from 'bun:test'
import { Writable } from 'node:stream'
import { accessLogger, createLogger, redactSecrets } from './log.ts'

function capture() {
  const lines: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { log: createLogger('info', sink), lines }
}

test('secret fields are censored at the top level and one level down; everything else is kept', () => {
  const { log, lines } = capture()
  log.info(
    {
      password: 'p1',
      key: 'sk-top',
      provider: { name: 'openai', api_key: 'sk-provider' },
      body: { email: 'a@b.c', password: 'p2', new_password: 'p3', current_password: 'p4', refresh_token: 'r', access_token: 'a' },
      headers: { 'x-api-key': 'sk-header', Authorization: 'Bearer t', accept: 'json' },
      status: 200,
    },
    'request',
  )
  const line = lines[0]!
  const text = JSON.stringify(line)
  for (const secret of ['p1', 'p2', 'p3', 'p4', 'sk-top', 'sk-provider', 'sk-header', 'Bearer t', '"r"', '"a"']) expect(text).not.toContain(secret)
  expect(line).toMatchObject({
    msg: 'request',
    status: 200,
    password: '[redacted]',
    key: '[redacted]',
    body: { email: 'a@b.c', password: '[redacted]', refresh_token: '[redacted]' },
    headers: { 'x-api-key': '[redacted]', Authorization: '[redacted]', accept: 'json' },
  })
})

test("the caller's object is not changed, and an object without secrets is passed through as is", () => {
  const body = { password: 'p' }
  const obj = { body, n: 1 }
  const out = redactSecrets(obj)
  expect(out).not.toBe(obj)
  expect(obj.body.password).toBe('p')
  expect(out.body).toEqual({ password: '[redacted]' })
  const clean = { a: 1, b: { c: 2 } }
  expect(redactSecrets(clean)).toBe(clean)
})

test('errors keep their message and stack', () => {
  const { log, lines } = capture()
  log.error({ err: new Error('boom') }, 'failed')
  expect(lines[0]).toMatchObject({ msg: 'failed', err: { message: 'boom', type: 'Error' } })
  expect(String((lines[0]!.err as { stack: string }).stack)).toContain('boom')
})

test('an access line is written exactly as pino writes the same fields', () => {
  const line = { request_id: 'r-1"\\', method: 'POST', path: '/api/v1/chat/completions?x="y"', status: 200, ms: 1.5 }
  const viaPino = capture()
  viaPino.log.info(line, 'request')
  const direct = capture()
  accessLogger(direct.log)('info', line, 'request')
  const { time: t1, ...a } = viaPino.lines[0]!
  const { time: t2, ...b } = direct.lines[0]!
  expect(b).toEqual(a)
  expect(Object.keys(direct.lines[0]!)).toEqual(Object.keys(viaPino.lines[0]!))
  expect(typeof t2).toBe(typeof t1)
  // The level is honoured.
  const quiet = { lines: [] as Record<string, unknown>[] }
  const warnOnly = createLogger('warn', new Writable({ write: (c, _e, done) => (quiet.lines.push(JSON.parse(String(c))), done()) }))
  accessLogger(warnOnly)('info', line, 'request')
  accessLogger(warnOnly)('warn', line, 'request failed')
  expect(quiet.lines.map((l) => l.msg)).toEqual(['request failed'])
})
