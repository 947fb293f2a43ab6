/**
 * Enclava as an MCP server (`/api/v1/mcp`, Streamable HTTP, stateless): an API key with the `mcp` scope gives MCP
 * clients (desktop assistants, IDEs, other agents) the organisation's documents and chatbots as tools, with the key's
 * own reach and nothing more: `search_documents` needs the key's `rag:read` scope too and searches only the key's
 * collections, `ask_chatbot` needs `chatbots` and reaches only the key's chatbots. Calls run through the tools engine
 * (time bounded, output capped, audited as `tool.call`) and are charged to the key under its budgets and limits,
 * recorded as the REST routes record them (source `api` for searches, `chatbot` for chatbot answers).
 *
 * Stateless: every HTTP request gets a server and transport of its own, so any replica answers any request and
 * nothing is kept between them. Answers are JSON, not event streams (no tool here reports progress).
 */
import type { VerifiedKey } from '../api-keys/verifier.ts'
import type { Caller } from '../gateway/service.ts'
import { requestIdOf, startedAt } from '../http/request-meta.ts'
import type { Services } from '../services.ts'
import { ragSearchTools } from '../tools/kinds/rag-search.ts'
import type { Tool } from '../tools/types.ts'
import pkg from '../../package.json' with { type: 'json' }

const INSTRUCTIONS =
  "Enclava gives you an organisation's documents and chatbots. Use search_documents to find passages in the " +
  'documents (each result names its document), and ask_chatbot to put a question to one of the chatbots, which ' +
  'answers from its own knowledge base. Which tools you see depends on the API key.'

/** The MCP SDK (with zod and ajv, about 25 MB resident) is loaded by the first MCP request, not at start-up. */
let sdk:
  | Promise<
      [
        typeof import('@modelcontextprotocol/sdk/server/index.js'),
        typeof import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'),
        typeof import('@modelcontextprotocol/sdk/types.js'),
      ]
    >
  | undefined

/** Answers one HTTP request of an MCP client; `body` is the JSON the body limits already read and checked. */
export async function handleMcpRequest(s: Services, apiKey: VerifiedKey, request: Request, body: unknown): Promise<Response> {
  sdk ??= Promise.all([
    import('@modelcontextprotocol/sdk/server/index.js'),
    import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ])
  const [{ Server }, { WebStandardStreamableHTTPServerTransport }, { CallToolRequestSchema, ListToolsRequestSchema }] = await sdk
  const caller = (): Caller => ({ source: 'api', userId: apiKey.user_id, apiKey, requestId: requestIdOf(request), startedAt: startedAt(request) })
  const server = new Server({ name: 'enclava', version: pkg.version }, { capabilities: { tools: {} }, instructions: INSTRUCTIONS })
  let tools: Promise<Tool[]> | undefined
  const keyTools = () => (tools ??= toolsFor(s, apiKey, caller()))

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: (await keyTools()).map((t) => ({ name: t.name, description: t.description, inputSchema: t.parameters })),
  }))
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const signal = AbortSignal.any([request.signal, extra.signal])
    const { result } = await s.tools.call(await keyTools(), req.params.name, JSON.stringify(req.params.arguments ?? {}), { caller: caller(), signal })
    return { content: [{ type: 'text' as const, text: result.content }], ...(result.isError ? { isError: true } : {}) }
  })

  const transport = new WebStandardStreamableHTTPServerTransport({ enableJsonResponse: true }) // no session ids: stateless
  await server.connect(transport)
  try {
    return await transport.handleRequest(request, body === undefined ? {} : { parsedBody: body })
  } finally {
    await server.close().catch(() => {})
  }
}

/** The tools this key reaches; a tool with nothing behind it (no collection, no chatbot) is left out. */
async function toolsFor(s: Services, key: VerifiedKey, caller: Caller): Promise<Tool[]> {
  const tools: Tool[] = []
  if (key.scopes.includes('rag:read')) {
    const collections = await s.rag.collections.list({ userId: key.user_id, isAdmin: false, allowedCollections: key.allowed_collections })
    if (collections.length > 0) tools.push(...(await ragSearchTools(s.rag).tools({ type: 'rag_search' }, caller)))
  }
  if (key.scopes.includes('chatbots')) {
    const bots = (await s.chatbots.list({ userId: key.user_id, isAdmin: false, allowedChatbots: key.allowed_chatbots })).filter((b) => b.is_active)
    if (bots.length > 0) tools.push(askChatbot(s, key, bots))
  }
  return tools
}

function askChatbot(s: Services, key: VerifiedKey, bots: { id: string; name: string }[]): Tool {
  return {
    kind: 'chatbot',
    name: 'ask_chatbot',
    description:
      `Asks one of the organisation's chatbots a question and returns its answer with the documents it used. Chatbots: ${bots.map((b) => `"${b.name}" (${b.id})`).join(', ')}. ` +
      'Pass the conversation_id of an earlier answer to continue that conversation.',
    parameters: {
      type: 'object',
      properties: {
        chatbot_id: { type: 'string', enum: bots.map((b) => b.id), description: 'Which chatbot' },
        message: { type: 'string', description: 'The question or message' },
        conversation_id: { type: 'string', description: 'Continue this conversation (from an earlier answer)' },
      },
      required: ['chatbot_id', 'message'],
      additionalProperties: false,
    },
    async execute(args, ctx) {
      const message = typeof args.message === 'string' ? args.message.trim() : ''
      if (!message) return { content: 'ask_chatbot needs a non-empty "message"', isError: true }
      const id = typeof args.chatbot_id === 'string' ? args.chatbot_id : ''
      if (!bots.some((b) => b.id === id)) return { content: `No chatbot ${id}; the chatbots are: ${bots.map((b) => b.id).join(', ')}`, isError: true }
      const bot = await s.chatbots.get({ userId: key.user_id, isAdmin: false, allowedChatbots: key.allowed_chatbots }, id)
      const conversation = typeof args.conversation_id === 'string' ? { conversation_id: args.conversation_id } : {}
      // A copy: the chat turn prefixes its request id (usage is attributed to the chatbot through it).
      const done = await s.chatbots.chat(
        bot,
        { message, ...conversation },
        { ...ctx.caller, source: 'chatbot' },
        { userId: key.user_id, apiKeyId: key.id, source: 'api' },
        ctx.signal,
      )
      const sources = done.sources.map((src) => `[${src.index}] ${src.document_name}`).join('\n')
      return {
        content: `${done.response}${sources ? `\n\nSources:\n${sources}` : ''}\n\nconversation_id: ${done.conversation_id}`,
        sources: done.sources.map((src) => ({ title: src.document_name, document_id: src.document_id, collection_id: src.collection_id })),
      }
    },
  }
}
