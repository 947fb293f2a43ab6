/**
 * Data-loss prevention for what leaves the TEE. A request the gateway sends to a provider that is not confidential
 * (prompts, the RAG context inside them, tool results, embeddings inputs) is searched for secrets, payment cards,
 * IBANs and, optionally, contact details; the policy then sends it as is (`off`), with each find replaced by
 * `[REDACTED:<kind>]` (`redact`), or not at all (`block`: a 400 naming the kinds, never the values).
 *
 * Detectors favour precision: a bare pattern is confirmed by a check where one exists (Luhn and an issuer prefix for
 * cards, mod-97 and the country's length for IBANs, a decodable JSON header for JWTs), and provider keys are matched
 * by their documented prefixes. The measured rates on the corpus in dlp-corpus.ts are in the README.
 */

export type DlpMode = 'off' | 'redact' | 'block'

export const DLP_KINDS = [
  'enclava_key',
  'api_key',
  'private_key',
  'jwt',
  'cloud_credential',
  'url_credential',
  'card_number',
  'iban',
  'email',
  'phone',
] as const
export type DlpKind = (typeof DLP_KINDS)[number]

const STRICTNESS: Record<DlpMode, number> = { off: 0, redact: 1, block: 2 }
export const stricter = (a: DlpMode, b: DlpMode): DlpMode => (STRICTNESS[a] >= STRICTNESS[b] ? a : b)

interface Detector {
  kind: DlpKind
  pattern: RegExp
  /** Confirms a match the pattern alone cannot (checksums); the matched text is `match[0]`. */
  confirm?: (match: RegExpExecArray) => boolean
  contacts?: true
}

/** Luhn checksum over the digits of `text` (separators ignored). */
export function luhn(text: string): boolean {
  const digits = text.replace(/\D/g, '')
  let sum = 0
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48
    if (i % 2 === 1) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
  }
  return digits.length > 0 && sum % 10 === 0
}

/**
 * Issuer prefixes and lengths of the card schemes in use (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
 * Maestro): a Luhn-valid 16-digit string is a card only if its first digits name an issuer, which cuts the one in ten
 * random digit strings that pass Luhn by chance to far fewer.
 */
function cardIssuer(digits: string): boolean {
  const n = digits.length
  const p2 = Number(digits.slice(0, 2))
  const p3 = Number(digits.slice(0, 3))
  const p4 = Number(digits.slice(0, 4))
  const p6 = Number(digits.slice(0, 6))
  if (digits[0] === '4') return n === 13 || n === 16 || n === 19
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16
  if (p2 === 34 || p2 === 37) return n === 15
  if (p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925)) return n >= 16 && n <= 19
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19
  if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39 || p4 === 3095) return n >= 14 && n <= 19
  if (p2 === 62) return n >= 16 && n <= 19
  if (p2 === 50 || (p2 >= 56 && p2 <= 58) || p2 === 63 || p2 === 67) return n >= 12 && n <= 19
  return false
}

/** IBAN lengths by country (ISO 13616 registry). */
const IBAN_LENGTHS: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22, CY: 28, CZ: 24,
  DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28,
  HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29,
  RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22,
  VG: 24, XK: 20,
}

export function ibanValid(text: string): boolean {
  const iban = text.replace(/\s/g, '').toUpperCase()
  if (IBAN_LENGTHS[iban.slice(0, 2)] !== iban.length) return false
  const rearranged = iban.slice(4) + iban.slice(0, 4)
  let remainder = 0
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0)
    const value = code >= 65 ? String(code - 55) : ch
    for (const digit of value) remainder = (remainder * 10 + (digit.charCodeAt(0) - 48)) % 97
  }
  return remainder === 1
}

function jwtHeader(token: string): boolean {
  const header = token.split('.')[0] ?? ''
  try {
    const json = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown }
    return typeof json === 'object' && json !== null && typeof json.alg === 'string'
  } catch {
    return false
  }
}

const DETECTORS: Detector[] = [
  { kind: 'enclava_key', pattern: /\ben_[A-Za-z0-9]{40}\b/g },
  {
    kind: 'private_key',
    // The whole block when it is complete; the header and what follows it when it was cut off.
    // Both alternatives stop at the first character a key block cannot hold, so text of many headers and no END is
    // scanned once, not once per header (which was quadratic in the text's length).
    pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\s:,.-]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s:,.-]*)/g,
  },
  {
    kind: 'api_key',
    pattern: new RegExp(
      [
        String.raw`\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{32,}`, // OpenAI, Anthropic
        String.raw`\b(?:sk|rk|pk)_live_[A-Za-z0-9]{20,}`, // Stripe (test keys move no money)
        String.raw`\bgh[pousr]_[A-Za-z0-9]{36}\b`, // GitHub
        String.raw`\bgithub_pat_[A-Za-z0-9_]{60,}`,
        String.raw`\bglpat-[A-Za-z0-9_-]{20}\b`, // GitLab
        String.raw`\bxox[abposr]-[A-Za-z0-9-]{10,}`, // Slack
        String.raw`\bAIza[0-9A-Za-z_-]{35}\b`, // Google
        String.raw`\bhf_[A-Za-z0-9]{34,}\b`, // Hugging Face
        String.raw`\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b`, // SendGrid
        String.raw`\bnpm_[A-Za-z0-9]{36}\b`,
      ].join('|'),
      'g',
    ),
  },
  { kind: 'jwt', pattern: /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}/g, confirm: (m) => jwtHeader(m[0]) },
  {
    kind: 'cloud_credential',
    pattern: new RegExp(
      [
        String.raw`\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b`, // AWS access key id
        // An AWS secret key is 40 base64 characters, recognisable only by what it is next to.
        String.raw`(?<=aws.{0,24}?(?:secret|private).{0,24}?[=:"'\s])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])`,
        String.raw`\bAccountKey=[A-Za-z0-9+/]{86}==`, // Azure storage
        String.raw`\bSharedAccessSignature=[^\s;"']{20,}`,
        String.raw`"private_key_id"\s*:\s*"[a-f0-9]{40}"`, // Google service account
      ].join('|'),
      'gi',
    ),
  },
  // user:password@host in a URL (database and broker connection strings).
  { kind: 'url_credential', pattern: /\b[a-z][a-z0-9+.-]{1,20}:\/\/[^\s:/@'"]{1,64}:[^\s@/'"]{3,128}@[A-Za-z0-9.-]+/g },
  {
    kind: 'card_number',
    // 12-19 digits, alone or in groups of 4 (Amex: 4-6-5) separated by one space or dash.
    pattern: /(?<![\d.,-])(?:\d{4}[ -]\d{6}[ -]\d{5}|\d{4}(?:[ -]?\d{4}){2}[ -]?\d{1,7}|\d{12,19})(?![\d])/g,
    confirm: (m) => {
      const digits = m[0].replace(/\D/g, '')
      return digits.length >= 12 && digits.length <= 19 && luhn(digits) && cardIssuer(digits)
    },
  },
  {
    kind: 'iban',
    pattern: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g,
    confirm: (m) => ibanValid(m[0]),
  },
  // Labels each followed by a dot, then the top-level domain; at most 8 labels, so a long dotted run after an @ is
  // not backtracked through (that was quadratic in its length).
  { kind: 'email', pattern: /\b[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}\b/g, contacts: true },
  {
    kind: 'phone',
    // International (+CC ...) or North American ((555) 123-4567, 555-123-4567) forms: a bare run of digits is not
    // enough (dates, ids and measurements would be phones).
    pattern: /(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\b\d{3}[.-]\d{3}[.-]\d{4})(?!\d)/g,
    contacts: true,
    confirm: (m) => {
      const n = m[0].replace(/\D/g, '').length
      return n >= 8 && n <= 15
    },
  },
]

export interface DlpFind {
  kind: DlpKind
  start: number
  end: number
}

export interface DlpOptions {
  /** Also email addresses and phone numbers. */
  contacts: boolean
}

/** Every find in `text`, in order, without overlaps (an earlier, then longer find wins). */
export function scan(text: string, options: DlpOptions): DlpFind[] {
  const finds: DlpFind[] = []
  for (const d of DETECTORS) {
    if (d.contacts && !options.contacts) continue
    d.pattern.lastIndex = 0
    for (let m = d.pattern.exec(text); m !== null; m = d.pattern.exec(text)) {
      if (m[0].length === 0) {
        d.pattern.lastIndex++
        continue
      }
      if (d.confirm && !d.confirm(m)) continue
      finds.push({ kind: d.kind, start: m.index, end: m.index + m[0].length })
    }
  }
  // Secrets before contact details: a token in `https://ghp_…@github.com` is a token, not an email address.
  const isContact = (f: DlpFind) => f.kind === 'email' || f.kind === 'phone'
  const order = (a: DlpFind, b: DlpFind) => a.start - b.start || b.end - a.end
  const out: DlpFind[] = []
  for (const f of finds.filter((f) => !isContact(f)).sort(order)) if (!out.length || f.start >= out[out.length - 1]!.end) out.push(f)
  const contacts = finds.filter(isContact).sort(order)
  if (contacts.length === 0) return out
  const merged: DlpFind[] = []
  let i = 0
  for (const c of contacts) {
    while (i < out.length && out[i]!.end <= c.start) merged.push(out[i++]!)
    const prev = merged[merged.length - 1]
    if ((i < out.length && out[i]!.start < c.end) || (prev && prev.end > c.start)) continue
    merged.push(c)
  }
  while (i < out.length) merged.push(out[i++]!)
  return merged
}

/** `text` with each find replaced by `[REDACTED:<kind>]`. */
export function redact(text: string, finds: readonly DlpFind[]): string {
  if (finds.length === 0) return text
  let out = ''
  let at = 0
  for (const f of finds) {
    out += `${text.slice(at, f.start)}[REDACTED:${f.kind}]`
    at = f.end
  }
  return out + text.slice(at)
}

/** How many of each kind were found: what an audit event and an error message may say (never the values). */
export type DlpCounts = Partial<Record<DlpKind, number>>

export interface DlpResult<T> {
  /** The body with finds redacted (the same object when nothing was found). */
  body: T
  counts: DlpCounts
  total: number
}

/** Cheap test before the real scan: text with none of these characters holds nothing any detector finds. */
const CANDIDATE = /\d{4}|[A-Za-z0-9]{16}|-----BEGIN|:\/\/|@/

function scanText(text: string, options: DlpOptions, counts: DlpCounts): string {
  if (!CANDIDATE.test(text)) return text
  const finds = scan(text, options)
  for (const f of finds) counts[f.kind] = (counts[f.kind] ?? 0) + 1
  return redact(text, finds)
}

type Message = { role?: unknown; content?: unknown; tool_calls?: unknown; [k: string]: unknown }

/**
 * A chat request with its text redacted: message contents (strings and text parts), tool call arguments and tool
 * results, since all of them leave with the request. Everything else (model, parameters, tool schemas) is kept.
 */
export function guardChat<T extends { messages: readonly unknown[] }>(body: T, options: DlpOptions): DlpResult<T> {
  const counts: DlpCounts = {}
  let changed = false
  const messages = body.messages.map((raw) => {
    const m = raw as Message
    const out: Message = { ...m }
    if (typeof m.content === 'string') out.content = scanText(m.content, options, counts)
    else if (Array.isArray(m.content))
      out.content = m.content.map((part: { type?: string; text?: unknown }) =>
        part && typeof part.text === 'string' ? { ...part, text: scanText(part.text, options, counts) } : part,
      )
    if (Array.isArray(m.tool_calls))
      out.tool_calls = m.tool_calls.map((call: { function?: { arguments?: unknown } }) =>
        call?.function && typeof call.function.arguments === 'string'
          ? { ...call, function: { ...call.function, arguments: scanText(call.function.arguments, options, counts) } }
          : call,
      )
    if (out.content !== m.content || out.tool_calls !== m.tool_calls) changed = true
    return out
  })
  const total = Object.values(counts).reduce((a, b) => a + (b ?? 0), 0)
  return { body: total > 0 && changed ? { ...body, messages } : body, counts, total }
}

/** An embeddings request with its string inputs redacted (token arrays carry no readable text to find). */
export function guardEmbeddings<T extends { input: unknown }>(body: T, options: DlpOptions): DlpResult<T> {
  const counts: DlpCounts = {}
  const input = typeof body.input === 'string'
    ? scanText(body.input, options, counts)
    : Array.isArray(body.input)
      ? body.input.map((i) => (typeof i === 'string' ? scanText(i, options, counts) : i))
      : body.input
  const total = Object.values(counts).reduce((a, b) => a + (b ?? 0), 0)
  return { body: total > 0 ? { ...body, input } : body, counts, total }
}

/** "2 card_number, 1 jwt": the kinds and how many, for messages and logs. */
export const describeCounts = (counts: DlpCounts): string =>
  Object.entries(counts)
    .map(([kind, n]) => `${n} ${kind}`)
    .join(', ')
