import { describe, expect, test } from 'bun:test'
import { changes } from './changes.ts'

describe('changes', () => {
  test('only the named fields that differ, with their values before and after', () => {
    const before = { name: 'old', limit_usd: 10, scopes: ['llm'], untouched: 1 }
    const after = { name: 'new', limit_usd: 10, scopes: ['llm', 'rag:read'], untouched: 2 }
    expect(changes(before, after, ['name', 'limit_usd', 'scopes'])).toEqual({
      name: { from: 'old', to: 'new' },
      scopes: { from: ['llm'], to: ['llm', 'rag:read'] },
    })
  })

  test('secrets are never recorded, long text is cut, dates are ISO strings', () => {
    const at = new Date('2026-01-02T03:04:05Z')
    const out = changes({ api_key: 'sk-old', prompt: 'a'.repeat(10), expires_at: null }, { api_key: 'sk-new', prompt: 'b'.repeat(400), expires_at: at }, [
      'api_key',
      'prompt',
      'expires_at',
    ])
    expect(out.api_key).toEqual({ changed: true })
    expect(JSON.stringify(out)).not.toContain('sk-')
    expect((out.prompt as { to: string }).to).toEndWith('… (400 characters)')
    expect(out.expires_at).toEqual({ from: null, to: '2026-01-02T03:04:05.000Z' })
    // Counts of tokens are settings, not secrets; a token is.
    expect(changes({ chunk_tokens: 300, max_tokens: 1, access_token: 'a' }, { chunk_tokens: 120, max_tokens: 2, access_token: 'b' }, ['chunk_tokens', 'max_tokens', 'access_token'])).toEqual({
      chunk_tokens: { from: 300, to: 120 },
      max_tokens: { from: 1, to: 2 },
      access_token: { changed: true },
    })
  })
})
