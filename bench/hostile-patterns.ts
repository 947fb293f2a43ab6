/**
 * The regular expressions Enclava runs on the server thread (or its DLP worker) over what clients send: prompt
 * injection scoring (chatbot and agent messages, document chunks), data-loss prevention (bodies bound outside the TEE)
 * and probe detection (every request's URL). Each must take time linear in its input: a pattern that backtracks
 * lets one request hold every tenant's. For each adversarial input (repetitions that make ambiguous quantifiers
 * backtrack) this prints the time at n and 4n characters and their ratio: about 4 is linear, 16 quadratic.
 *
 *   bun bench/hostile-patterns.ts
 */
import { scan } from '../src/security/dlp.ts'
import { scoreInjection } from '../src/security/injection.ts'
import { probeKind } from '../src/security/threats.ts'

/** DLP, injection scoring and probes all read everything (injection scoring read its first 20,000 characters until 2026-12-07). */
const N = 64_000
/** Above this the pattern is called superlinear (noise makes a linear one reach 5-6 at these sizes). */
const SUPERLINEAR = 9

const inputs: Record<string, (n: number) => string> = {
  'pem headers without END': (n) => '-----BEGIN PRIVATE KEY-----!'.repeat(Math.ceil(n / 28)),
  'digit groups': (n) => '1234 '.repeat(n / 5),
  'digits and dashes': (n) => '1-'.repeat(n / 2),
  'email local part': (n) => 'a.'.repeat(n / 2) + '@',
  'email domain': (n) => 'a@' + 'b.'.repeat(n / 2),
  'iban groups': (n) => 'DE00 ' + 'AAAA '.repeat(n / 5),
  'phone groups': (n) => '+1 ' + '12 '.repeat(n / 3),
  'unicode tags': (n) => String.fromCodePoint(0xe0041).repeat(n / 2),
  'blank lines': (n) => '\n '.repeat(n / 2) + 'system',
  'greeting then spaces': (n) => ('hi' + ' '.repeat(n / 4)).repeat(2),
  'override then spaces': (n) => ('ignore previous ' + ' '.repeat(n / 4)).repeat(2),
  'punctuation runs': (n) => '. '.repeat(n / 2),
  'filler words after an override': (n) => ('ignore previous ' + 'the '.repeat(2000) + 'x. ').repeat(Math.ceil(n / 8019)),
  'sentences that almost ask to rewrite': (n) => ('. please rewrite ' + 'a'.repeat(100)).repeat(Math.ceil(n / 117)),
  'role claims': (n) => 'you are now an you are now the '.repeat(Math.ceil(n / 31)),
}
const urls: Record<string, (n: number) => string> = {
  'sql comments in a URL': (n) => `http://h/v1/x?q=union${'/*a*/'.repeat(n / 5)}x`,
  'traversal-like URL': (n) => `http://h/v1/${'..%2'.repeat(n / 4)}`,
  'script-like URL': (n) => `http://h/v1/x?q=${'%3cscrip'.repeat(n / 8)}`,
}

function time(fn: () => unknown): number {
  const started = performance.now()
  fn()
  return performance.now() - started
}

function row(name: string, run: (n: number) => number, n = N): void {
  run(n / 4) // warm-up: compile the patterns
  // The best of three: the machine's other work only ever adds time.
  const best = (size: number) => Math.max(Math.min(run(size), run(size), run(size)), 0.01)
  const small = best(n)
  const large = best(4 * n)
  const ratio = large / small
  console.log(`${name.padEnd(50)} ${small.toFixed(2).padStart(8)} ms ${large.toFixed(2).padStart(8)} ms  x${ratio.toFixed(1).padStart(5)}${ratio > SUPERLINEAR ? '  SUPERLINEAR' : ''}`)
}

console.log(`dlp, injection and probes at n=${N} and ${4 * N} characters; ratio 4: linear, 16: quadratic`)
for (const [name, make] of Object.entries(inputs)) {
  row(`${name} (dlp)`, (n) => time(() => scan(make(n), { contacts: true })))
  row(`${name} (injection)`, (n) => time(() => scoreInjection(make(n).slice(0, n))))
}
for (const [name, make] of Object.entries(urls)) row(name, (n) => time(() => probeKind(make(n), null)))
