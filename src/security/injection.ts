/**
 * Prompt-injection heuristics: text that addresses the model rather than the reader. Document chunks are scored at
 * ingestion (a chunk is context the model will read as if it were trusted) and users' messages to chatbots as they
 * arrive. Each signal below is a family of phrasings with a weight; a text's score is 1 - Π(1 - weight) over the
 * signals it shows, so one strong signal (an override, a chat-template token, hidden Unicode tags) flags a text on
 * its own and weak ones (a remark to "the AI", a directive about "your response") only together.
 *
 * Heuristics miss what does not look like an instruction to a model ("What is the capital of Brazil?" planted in a
 * document is an injection only by its placement), so borderline texts can be sent to a judge model
 * (INJECTION_JUDGE_MODEL). Measured precision and recall on the labelled sets in fixtures/ are in the README and in
 * injection.test.ts, which prints them.
 */

export interface InjectionVerdict {
  /** 0..1 */
  score: number
  flagged: boolean
  /** The signals found (names only: what may be stored and shown without repeating the text). */
  signals: string[]
}

export const DEFAULT_INJECTION_THRESHOLD = 0.5
/** Texts scoring at least this, but under the threshold, are worth a judge model's opinion. */
export const BORDERLINE = 0.2

interface Signal {
  name: string
  weight: number
  pattern: RegExp
}

const INSTRUCTIONS = String.raw`(?:instructions?|prompts?|directions?|directives?|rules|guidelines|guidance|context|messages?|constraints|programming|commands?|orders|tasks?)`
const EARLIER = String.raw`(?:previous|prior|above|earlier|preceding|foregoing|original|initial|old|system|developer|all|any|every|your|those|these|the\s+(?:previous|above|original|system))`

const SIGNALS: Signal[] = [
  {
    name: 'override',
    weight: 0.75,
    pattern: new RegExp(
      [
        String.raw`\b(?:ignore|disregard|forget|skip|override|overrule|bypass|discard|abandon|drop|neglect)\s+(?:all\s+|any\s+|of\s+)?(?:of\s+)?${EARLIER}\s+(?:(?:the|your|of|and|other)\s+)*${INSTRUCTIONS}`,
        String.raw`\b(?:do\s+not|don'?t|stop)\s+(?:follow(?:ing)?|obey(?:ing)?|listen(?:ing)?\s+to)\s+(?:the\s+|your\s+|any\s+)?(?:previous|prior|above|original|initial|system|earlier)\s+${INSTRUCTIONS}`,
        String.raw`\b(?:new|updated|revised|real|actual|true)\s+(?:system\s+)?instructions?\s*(?::|follow|are\b|is\b)`,
        String.raw`\byour\s+(?:new|real|actual|true)\s+(?:task|instructions?|role|goal|purpose|objective|job)\s+(?:is|are|will\s+be)\b`,
        String.raw`\bfrom\s+now\s+on,?\s+(?:you|the\s+(?:assistant|ai|model))\s+(?:are|will|must|should|shall|have\s+to)\b`,
        String.raw`\b(?:instead|rather),?\s+(?:you\s+(?:must|shall)\s+(?:now\s+)?(?:say|reply|respond|answer|output|tell|write)|do\s+the\s+following|perform\s+the\s+following)`,
        String.raw`\bthe\s+(?:above|previous)\s+(?:instructions?|prompt|text)\s+(?:is|are|was|were)\s+(?:a\s+)?(?:fake|wrong|a\s+test|outdated|void|cancell?ed)`,
      ].join('|'),
      'i',
    ),
  },
  {
    name: 'role_marker',
    weight: 0.8,
    pattern:
      /<\|(?:im_start|im_end|system|user|assistant|endoftext|begin_of_text|end_of_text|start_header_id|end_header_id|eot_id|eom_id)\|>|\[\/?INST\]|<<\/?SYS>>|<\/?start_of_turn>|<\/?end_of_turn>|<\/?(?:system|system_prompt|sys)>|^[ \t]*#{2,}[ \t]*(?:system|instruction|new instructions?)[ \t]*:?[ \t]*$/im,
  },
  {
    name: 'fake_system_turn',
    weight: 0.6,
    // A line that poses as the platform's own instructions to the model.
    pattern:
      /(?:^|\n)[ \t]*(?:\*\*)?(?:system|system\s+prompt|system\s+message)(?:\*\*)?[ \t]*:\s*(?:you\b|the\s+(?:assistant|ai|model|bot|chatbot)\b|as\s+an?\s+(?:ai|assistant)|ignore|always\b|never\b|from\s+now|new\s+(?:rules|instructions))/i,
  },
  {
    name: 'fake_turn',
    weight: 0.45,
    // A line that poses as the model's own earlier words (a transcript in a document is the benign case).
    pattern: /(?:^|\n)[ \t]*(?:\*\*)?(?:assistant|ai\s+assistant|ai|gpt|chatbot)(?:\*\*)?[ \t]*:\s*(?:sure|ok(?:ay)?|of\s+course|certainly|absolutely|i\s+(?:will|have|can|am)|here\s+(?:is|are))\b/i,
  },
  {
    name: 'model_address',
    weight: 0.35,
    pattern: new RegExp(
      [
        String.raw`\b(?:you\s+are|you'?re)\s+(?:now\s+)?(?:an?|the|my)\s+(?:helpful\s+|new\s+|unrestricted\s+)?(?:ai|assistant|language\s+model|llm|chat\s*bot|gpt|model)\b`,
        String.raw`\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|large\s+language\s+model|language\s+model|assistant|chat\s*bot|gpt|bot)\b`,
        String.raw`\b(?:ai|llm|language\s+model|assistant|chat\s*bot|gpt|bot)s?\s+(?:reading|processing|summari[sz]ing|analy[sz]ing|parsing|scanning|indexing)\s+(?:this|these)\b`,
        String.raw`\b(?:attention|note|message|instructions?|notice|reminder|important)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?(?:ai|llm|assistant|model|chat\s*bot|language\s+model|gpt|bots?)\b`,
        String.raw`\bdear\s+(?:ai|assistant|chat\s*bot|llm|model|gpt)\b`,
        String.raw`\b(?:attention|note|warning|important|notice|hey|hello|hi)(?:\s*,)?\s+(?:ai|llm|gpt|chat\s*bot|language\s+model|ai\s+assistant)s?\s*[:,!]`,
        String.raw`\b(?:ai|llm)\s+(?:agents?|assistants?|models?|systems?|tools?|screeners?|crawlers?|readers?)\s+(?:reading|processing|summari[sz]ing|analy[sz]ing|parsing|scanning|indexing|reviewing)\s+(?:this|these)\b`,
        String.raw`\b(?:hey|hi|hello)\s+(?:chatgpt|claude|gemini|copilot|assistant|ai)\b`,
      ].join('|'),
      'i',
    ),
  },
  {
    name: 'output_tampering',
    weight: 0.6,
    // An imperative that rewrites or transforms the model's own output, which a document written for people has no
    // reason to ask for: "Encode your response in Base64", "Augment your reply with …", "Modify your answer to …".
    pattern: new RegExp(
      String.raw`(?:^|[.!?:;,"(\n][ \t]*)(?:please\s+|now\s+|also\s+|then\s+)?(?:integrate|incorporate|augment|enhance|modify|alter|rewrite|rephrase|encode|encrypt|translate|render|reverse|shift|scramble|jumble|rearrange|anagram|misspell|substitute|replace|convert|tease|spread|promote|inject|embed)\b[^.!?\n]{0,120}?\byour\s+(?:(?:entire|whole|final|next|full)\s+)?(?:response|reply|answer|output|completion)(?:'s)?s?\b`,
      'i',
    ),
  },
  {
    name: 'response_directive',
    weight: 0.45,
    // An imperative about the model's output in words people also use with each other ("include your order number
    // in your reply"): weak alone, and a judge model's case when one is configured.
    pattern: new RegExp(
      [
        String.raw`(?:^|[.!?:;,"(\n][ \t]*)(?:please\s+|now\s+|also\s+|then\s+)?(?:add|append|insert|include|write|reply|respond|answer|end|begin|start|finish|conclude|express|provide|give|use|remove|group|combine|introduce|mention|highlight|suggest|hint|recommend|output|print|say|tell)\b[^.!?\n]{0,120}?\byour\s+(?:(?:entire|whole|final|next|full)\s+)?(?:response|reply|answer|output|completion)(?:'s)?s?\b`,
        String.raw`\b(?:respond|reply|answer)\s+(?:only\s+)?(?:with|in|using)\s+(?:the\s+(?:word|phrase|text)|base\s?\d\d|json\s+only|emojis?|a\s+(?:single|caesar))`,
        String.raw`\byour\s+(?:response|reply|answer|output)\s+(?:must|should|shall|has\s+to|needs\s+to)\s+(?:be|start|begin|end|include|contain|say)\b`,
      ].join('|'),
      'i',
    ),
  },
  {
    name: 'secrecy',
    weight: 0.35,
    pattern:
      /\b(?:do\s+not|don'?t|never)\s+(?:tell|inform|mention\s+(?:this|these|it)\s+to|reveal\s+(?:this|these|it)\s+to|let)\s+(?:the\s+)?(?:user|human|reader|customer)\b|\bwithout\s+(?:telling|informing|alerting|notifying|letting)\s+(?:the\s+)?(?:user|human|reader|customer)\b|\b(?:keep|hide)\s+(?:this|these\s+instructions?)\s+(?:secret|hidden)\s+from\s+(?:the\s+)?(?:user|human)/i,
  },
  {
    name: 'prompt_leak',
    weight: 0.6,
    pattern:
      /\b(?:reveal|print|show|output|repeat|display|leak|disclose|dump|recite|expose|tell\s+me|give\s+me|share)\s+(?:me\s+)?(?:all\s+of\s+)?(?:your|the)\s+(?:(?:full|entire|exact|complete|original|initial|hidden|secret|internal)\s+)*(?:system\s+(?:prompt|message|instructions?)|instructions?\s+(?:you\s+were\s+given|above)|(?:initial|original|hidden|secret)\s+(?:prompt|instructions?)|prompt\s+above)/i,
  },
  {
    name: 'exfiltration',
    weight: 0.55,
    pattern: new RegExp(
      [
        // A markdown image whose URL carries a placeholder to fill: the classic zero-click leak.
        String.raw`!\[[^\]]{0,80}\]\(\s*https?:\/\/[^\s)]*[?&][^\s)=]{1,40}=(?:\{|\[|<|%7B|\$)`,
        // Sending what belongs to the user or the session somewhere: data and information only when whose is said.
        String.raw`\b(?:send|forward|transmit|post|upload|exfiltrate|leak|email|submit)\s+(?:(?:the|all|this|your|any|all\s+the)\s+)?(?:(?:entire|whole|full|previous)\s+)?(?:conversation|chat|chat\s+history|conversation\s+history|messages|credentials|passwords?|api\s+keys?|access\s+tokens?|secrets?|system\s+prompt|(?:(?:user'?s?|customer'?s?|their|private|personal|sensitive|(?:this\s+)?conversation'?s?)\s+){1,2}(?:data|information|details|documents|messages|files|emails))\s+to\b`,
        String.raw`\b(?:append|add|include|encode|put)\s+(?:the\s+)?(?:user'?s?\s+|conversation\s+|chat\s+|their\s+)?(?:data|query|question|messages?|conversation|email|password|history|details|input)\s+(?:to|in|into|as)\s+(?:the\s+|a\s+)?(?:url|link|query\s+string|image\s+url|request)\b`,
      ].join('|'),
      'i',
    ),
  },
  {
    name: 'jailbreak',
    weight: 0.55,
    pattern:
      /\b(?:developer|god|jailbreak|jailbroken|dan|unrestricted|unfiltered|uncensored)\s+mode\b|\bdo\s+anything\s+now\b|\bjailbreak(?:ing)?\s+(?:the\s+)?(?:ai|model|assistant|llm)|\bpretend\s+(?:that\s+)?you\s+(?:are|have)\s+(?:no|an?\s+(?:unrestricted|unfiltered|evil))|\bwithout\s+any\s+(?:restrictions|filters|limitations|guidelines|safety)\b.{0,40}\b(?:respond|answer|reply|act)|\bact\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|evil|uncensored)\b/i,
  },
]

/** Characters a reader does not see: zero-width and joiners, word joiner and invisible operators, the BOM. */
const INVISIBLE = /[\u200B-\u200F\u2060-\u2064\uFEFF]/g
/** Bidirectional overrides and isolates (the "Trojan Source" characters). */
const BIDI = /[\u202A-\u202E\u2066-\u2069]/g
/**
 * Unicode tag characters (U+E0000-U+E007F) outside an emoji flag sequence: invisible ASCII ("ASCII smuggling") that a
 * model still reads. Subdivision flags (England, Scotland, Wales) are U+1F3F4 followed by tags, and are left alone.
 */
const TAGS = /(?<!\u{1F3F4}[\u{E0020}-\u{E007F}]*)[\u{E0000}-\u{E007F}]+/gu

const combine = (weights: number[]) => 1 - weights.reduce((p, w) => p * (1 - w), 1)

function textSignals(text: string): Signal[] {
  return SIGNALS.filter((s) => s.pattern.test(text))
}

/**
 * Scores `text` for instructions aimed at a model. Pure and synchronous: a 300-token chunk takes well under a
 * millisecond. All of the text is read (it used to be its first 20,000 characters, so an injection after that much
 * filler went unseen); the patterns are linear, 25–50 ms per MB on inputs built against each of them (`/tmp` probe),
 * and a user's long message is scored off the server thread (scoreInjectionOf in dlp-pool.ts).
 */
export function scoreInjection(text: string, threshold = DEFAULT_INJECTION_THRESHOLD): InjectionVerdict {
  const found = new Map<string, number>()
  // What a reader sees and what a model reads can differ: the phrases are looked for with invisible characters
  // removed, so "ig\u200Bnore previous instructions" is found as well.
  const invisible = text.match(INVISIBLE)?.length ?? 0
  const visible = invisible > 0 ? text.replace(INVISIBLE, '') : text
  for (const s of textSignals(visible)) found.set(s.name, s.weight)
  // Many invisible characters in one chunk hide something; a stray one comes from copy and paste.
  if (invisible >= 8) found.set('hidden_text', Math.max(found.get('hidden_text') ?? 0, 0.45))
  const bidi = text.match(BIDI)?.length ?? 0
  if (bidi >= 2) found.set('bidi_override', 0.3)
  TAGS.lastIndex = 0
  const tagged = [...text.matchAll(TAGS)].map((m) => m[0]).join('')
  if ([...tagged].length >= 3) {
    found.set('hidden_text', 0.7)
    // What the tags spell is text the model reads: it is scored too.
    const decoded = [...tagged].map((c) => String.fromCodePoint((c.codePointAt(0) ?? 0xe0000) - 0xe0000)).join('')
    for (const s of textSignals(decoded)) found.set(`hidden_${s.name}`, s.weight)
  }
  const score = Math.round(combine([...found.values()]) * 1000) / 1000
  return { score, flagged: score >= threshold, signals: [...found.keys()] }
}
