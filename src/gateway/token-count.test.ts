import { expect, test } from 'bun:test'
import { Tiktoken } from 'js-tiktoken/lite'
import o200k from 'js-tiktoken/ranks/o200k_base'
import { countTokens, preTokens } from './token-count.ts'

// The reference: js-tiktoken itself, with special-token text counted as text.
const tiktoken = new Tiktoken(o200k)
const gatewayCount = (text: string) => tiktoken.encode(text, [], []).length

const samples = [
  '',
  ' ',
  'Hello, world! The quick brown fox jumps over the lazy dog.',
  "It's the patients' 2023-11-05 follow-up: IL-6 ≥ 12.5 pg/mL (p<0.001).\n\nNext paragraph.\n",
  'Special tokens are text here: <|endoftext|> <|im_start|>user',
  '东京都に住んでいます。私は学生です！中华人民共和国是一个国家，韩国어 텍스트도 있습니다.',
  '😀👍🏽 emoji, combining e\u0301, RTL שלום עולם مرحبا بالعالم, Thai ภาษาไทย',
  'a'.repeat(300),
  '東'.repeat(120) + '京都'.repeat(80),
  'ab'.repeat(200) + ' ' + '0123456789'.repeat(30),
  '   leading and trailing   \t\n\n\n   ',
  'x'.repeat(70) + ' ' + 'y'.repeat(70) + ' ' + 'x'.repeat(70),
]

test('counts equal js-tiktoken o200k on mixed text', () => {
  for (const s of samples) expect(countTokens(s)).toBe(gatewayCount(s))
})

test('pre-token counts sum to the text count', () => {
  for (const s of samples) {
    let sum = 0
    let text = ''
    for (const p of preTokens(s)) {
      sum += p.tokens
      text += p.text
    }
    expect(sum).toBe(countTokens(s))
    expect(text).toBe(s)
  }
})

test('long runs without a break stay fast (js-tiktoken takes ~10 s for 10,000 "a"s)', () => {
  const started = performance.now()
  expect(countTokens('a'.repeat(50_000))).toBe(6250)
  countTokens('中华人民共和国是一个国家'.repeat(2_000))
  expect(performance.now() - started).toBeLessThan(2_000)
})
