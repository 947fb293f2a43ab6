import { expect, test } from 'bun:test'
import { Writable } from 'node:stream'
import { createLogger, redactSecrets } from './log.ts'

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
