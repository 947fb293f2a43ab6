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

/** Random text over characters of every class the pre-token split tells apart, lone surrogates included. */
function hostileText(seed: number, length: number): string {
  const alphabet = [
    'a', 'Z', 'é', 'ǅ', 'ʰ', 'ß', 'Σ', 'ж', '\u0301', '\u20dd', '0', '7', '٣', '½', 'Ⅻ', '東', 'に', 'ア', '한',
    '😀', '🏽', '\ud800', '\udfff', ' ', '  ', '\t', '\n', '\r', '\r\n', '\u00a0', '\u2028', '\u3000', '\ufeff',
    "'", "'s", "'LL", '.', ',', '!', '/', '-', '<|endoftext|>', '\\', '"', '\u0000', '\u007f', '\u200b',
  ]
  let x = seed
  let out = ''
  while (out.length < length) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    out += alphabet[x % alphabet.length]
  }
  return out
}

test('on 2,000 random texts of every character class: the pieces cover the text and the counts equal js-tiktoken', () => {
  for (let seed = 1; seed <= 2000; seed++) {
    const s = hostileText(seed, seed % 200)
    const count = countTokens(s)
    expect([seed, count]).toEqual([seed, gatewayCount(s)])
    let text = ''
    for (const p of preTokens(s)) text += p.text
    expect(text).toBe(s)
  }
})

test('counts stay right after the pre-token memo fills and starts again', () => {
  // Letters only, so each word is one pre-token: 150,000 distinct ones, past the memo's 131,072.
  const letters = (i: number) => [...i.toString(26)].map((d) => String.fromCharCode(97 + Number.parseInt(d, 26))).join('')
  const words = Array.from({ length: 150_000 }, (_, i) => ` w${letters(i)}`)
  const text = words.join('')
  expect(countTokens(text)).toBe(words.reduce((n, w) => n + gatewayCount(w), 0))
  const some = words.slice(0, 50).join('') + words.slice(-50).join('')
  expect(countTokens(some)).toBe(gatewayCount(some))
})
