import { ApiError } from '../../http/errors.ts'
import type { Caller } from '../../gateway/service.ts'
import type { RagService } from '../../rag/service.ts'
import type { Tool, ToolProvider, ToolSpec } from '../types.ts'

type Spec = Extract<ToolSpec, { type: 'rag_search' }>

const MAX_TOP_K = 20

/**
 * `rag_search`: searches the collections the caller may read (an API key's narrowing included), optionally narrowed
 * further by the agent's configuration; results come back with their sources.
 */
export function ragSearchTools(rag: RagService): ToolProvider<Spec> {
  return {
    kind: 'rag_search',
    async tools(spec: Spec, caller: Caller): Promise<Tool[]> {
      const actor = { userId: caller.userId, isAdmin: false, ...(caller.apiKey?.allowed_collections?.length ? { allowedCollections: caller.apiKey.allowed_collections } : {}) }
      const readable = await rag.collections.list(actor)
      const wanted = spec.collections?.length ? readable.filter((c) => spec.collections!.includes(c.id)) : readable
      if (spec.collections?.length && wanted.length !== spec.collections.length) {
        const missing = spec.collections.filter((id) => !readable.some((c) => c.id === id))
        throw new ApiError('not_found', `Collections not found or not readable by this caller: ${missing.join(', ')}`, 'tools')
      }
      const topK = Math.min(spec.top_k ?? 5, MAX_TOP_K)
      const names = wanted.map((c) => `"${c.name}" (${c.id})`).join(', ')
      return [
        {
          kind: 'rag_search',
          name: 'search_documents',
          description: `Searches the organisation's documents and returns the most relevant passages with their sources. Collections: ${names || 'none'}.`,
          parameters: {
            type: 'object',
            properties: {
              query: { type: 'string', description: 'What to look for, in words' },
              collection_id: { type: 'string', enum: wanted.map((c) => c.id), description: 'One collection; all of them when omitted' },
            },
            required: ['query'],
            additionalProperties: false,
          },
          async execute(args, ctx) {
            const query = typeof args.query === 'string' ? args.query.trim() : ''
            if (!query) return { content: 'search_documents needs a non-empty "query"', isError: true }
            const targets = typeof args.collection_id === 'string' ? wanted.filter((c) => c.id === args.collection_id) : wanted
            if (targets.length === 0) return { content: `No collection ${String(args.collection_id)} among: ${names || 'none'}`, isError: true }
            const hits: { text: string; document: string; collection: string; collectionId: string; documentId: string; score: number }[] = []
            let withheld = 0
            for (const c of targets) {
              const found = await rag.search.searchCollection(c, { query, top_k: topK, group_by: 'document' }, ctx.caller, ctx.signal)
              for (const r of found.results) {
                // A passage flagged at ingestion as aimed at a model ("ignore previous instructions") is not put in
                // front of one that acts: the model only learns that some were withheld.
                if (r.injection?.flagged) {
                  withheld++
                  continue
                }
                hits.push({ text: r.text, document: r.document_name, collection: c.name, collectionId: c.id, documentId: r.document_id, score: r.score })
              }
            }
            const note = withheld ? `\n\n(${withheld} passage${withheld === 1 ? ' was' : 's were'} withheld: flagged as instructions aimed at a model.)` : ''
            hits.sort((a, b) => b.score - a.score)
            const top = hits.slice(0, topK)
            if (top.length === 0) return { content: `Nothing found for "${query}".${note}` }
            return {
              content: top.map((h, i) => `[${i + 1}] ${h.document} (${h.collection})\n${h.text}`).join('\n\n') + note,
              sources: top.map((h) => ({ title: h.document, document_id: h.documentId, collection_id: h.collectionId })),
            }
          },
        },
      ]
    },
  }
}
