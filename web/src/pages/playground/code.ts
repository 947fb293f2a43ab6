/**
 * The playground's current request as code people can paste: a curl command and the official `openai` npm client.
 * Both point at the public API with an API key read from the environment, never the dashboard's session token.
 */

export type Endpoint = 'chat' | 'embeddings'

const PATH: Record<Endpoint, string> = { chat: '/chat/completions', embeddings: '/embeddings' }

/** The public, OpenAI-compatible base URL of this Enclava. */
export const publicBaseUrl = () => `${location.origin}/api/v1`

/** Single-quoted for POSIX shells: a quote inside becomes '\'' (close, escaped quote, reopen). */
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

export function curlCommand(endpoint: Endpoint, body: Record<string, unknown>): string {
  const stream = endpoint === 'chat' && body.stream === true
  return [
    '# Create a key under "API keys", then: export ENCLAVA_API_KEY=<your key>',
    `curl${stream ? ' -N' : ''} ${publicBaseUrl()}${PATH[endpoint]} \\`,
    '  -H "Authorization: Bearer $ENCLAVA_API_KEY" \\',
    '  -H "Content-Type: application/json" \\',
    `  -d ${shellQuote(JSON.stringify(body, null, 2))}`,
  ].join('\n')
}

/** JSON is valid JavaScript, so the request body is pasted as it is sent. */
const literal = (body: Record<string, unknown>) => JSON.stringify(body, null, 2)

export function openaiCode(endpoint: Endpoint, body: Record<string, unknown>): string {
  const head = [
    "import OpenAI from 'openai'",
    '',
    'const client = new OpenAI({',
    `  baseURL: '${publicBaseUrl()}',`,
    '  // Create a key under "API keys"; keep it out of the code.',
    '  apiKey: process.env.ENCLAVA_API_KEY,',
    '})',
    '',
  ]
  if (endpoint === 'embeddings')
    return [...head, `const res = await client.embeddings.create(${literal(body)})`, 'console.log(res.data[0]?.embedding)'].join('\n')
  if (body.stream === true)
    return [
      ...head,
      `const stream = await client.chat.completions.create(${literal(body)})`,
      'for await (const chunk of stream) {',
      "  process.stdout.write(chunk.choices[0]?.delta?.content ?? '')",
      '}',
    ].join('\n')
  return [...head, `const res = await client.chat.completions.create(${literal(body)})`, 'console.log(res.choices[0]?.message.content)'].join('\n')
}
