import { describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { SecretBox } from './secretbox.ts'

const box = new SecretBox(randomBytes(32).toString('hex'))

describe('SecretBox', () => {
  test('round-trips, and never yields the same ciphertext twice', () => {
    const a = box.seal('sk-upstream-secret', 'provider:x')
    const b = box.seal('sk-upstream-secret', 'provider:x')
    expect(a).not.toBe(b)
    expect(a).not.toContain('sk-upstream-secret')
    expect(box.open(a, 'provider:x')).toBe('sk-upstream-secret')
  })

  test.each([
    ['another key', (s: string) => new SecretBox(randomBytes(32).toString('hex')).open(s, 'provider:x')],
    ['another context', (s: string) => box.open(s, 'provider:y')],
    ['a flipped byte', (s: string) => box.open(`v1:${Buffer.from(Buffer.from(s.slice(3), 'base64').map((v, i) => (i === 30 ? v ^ 1 : v))).toString('base64')}`, 'provider:x')],
    ['an unknown version', (s: string) => box.open(s.replace('v1:', 'v9:'), 'provider:x')],
  ])('opening with %s fails', (_name, open) => {
    expect(() => open(box.seal('secret', 'provider:x'))).toThrow()
  })

  test('rejects a key of the wrong size', () => {
    expect(() => new SecretBox('abcd')).toThrow(/32 bytes/)
  })
})
