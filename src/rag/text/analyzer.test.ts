import { expect, test } from 'bun:test'
import { analyze, MAX_TOKEN_CHARS, termFrequencies } from './analyzer.ts'

test.each([
  ['Covid-19 patients were treated', ['covid', '19', 'patient', 'treat']],
  ['IL-6 levels in 1.5 mg doses', ['il', '6', 'level', '1', '5', 'mg', 'dose']],
  ["The patient's T-cells don't respond", ['patient', 'cell', 'respond']],
  ['Vitamin C and hepatitis B', ['vitamin', 'c', 'hepat', 'b']],
  ['Naïve CAFÉ café', ['naïve', 'café', 'café']],
  ['ﬁbrosis', ['fibrosi']],
  ['東京都に住む', ['東京', '京都', '都に', 'に住', '住む']],
  ['猫', ['猫']],
  ['', []],
  ['...!?', []],
])('analyze(%p)', (text, terms) => {
  expect(analyze(text)).toEqual(terms)
})

test('over-long tokens are dropped, not truncated', () => {
  expect(analyze(`ok ${'x'.repeat(MAX_TOKEN_CHARS + 1)} ${'7'.repeat(MAX_TOKEN_CHARS)}`)).toEqual(['ok', '7'.repeat(MAX_TOKEN_CHARS)])
})

test('termFrequencies counts repeats', () => {
  expect(termFrequencies('Cells and cell; the CELL!')).toEqual(new Map([['cell', 3]]))
})
