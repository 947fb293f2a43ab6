import { Elysia, t } from 'elysia'
import type { VerifiedKey } from '../api-keys/verifier.ts'
import { guards } from '../auth/guards.ts'
import { holds } from '../auth/roles.ts'
import type { Caller } from '../gateway/service.ts'
import { ApiError, errorType, type ErrorCode } from '../http/errors.ts'
import { requestIdOf, startedAt, type RequestMeta } from '../http/request-meta.ts'
import type { Services } from '../services.ts'
import type { UserRow } from '../users/service.ts'
import { presentCollection, type RagActor } from './collections.ts'
import { presentChunk, presentDocument, type DocumentRow } from './documents.ts'
import { SUPPORTED_EXTENSIONS } from './extract/index.ts'
import {
  ChunkSchema,
  CollectionSchema,
  CreateCollectionBody,
  DocumentStatus,
  DocumentSchema,
  SearchBody,
  SearchResponseSchema,
  UpdateCollectionBody,
  UploadLimitsSchema,
  UploadRefusedSchema,
  UploadResultSchema,
} from './model.ts'
import { changes } from '../audit/changes.ts'

const IdParams = t.Object({ id: t.String({ format: 'uuid' }) })
const Page = { limit: t.Integer({ minimum: 1, maximum: 500, default: 50 }), offset: t.Integer({ minimum: 0, default: 0 }) }
const DocumentQuery = t.Object({ status: t.Optional(DocumentStatus), ...Page })
const MAX_FILES_PER_UPLOAD = 100
const UploadBody = t.Object({ files: t.Files({ minItems: 1, maxItems: MAX_FILES_PER_UPLOAD }) }, { additionalProperties: false })

/** The error envelope of an upload where every file was refused: their messages, each naming its file. */
const refusal = (rejected: readonly { message: string }[]) => ({
  message: rejected.map((r) => r.message).join('; '),
  type: errorType(400),
  code: 'invalid_request' satisfies ErrorCode,
  param: 'files',
})

/** What the two surfaces differ in: who the caller is, and how a route is guarded. */
interface Surface {
  prefix: string
  tag: string
  guard(level: 'read' | 'write'): Record<string, unknown>
  actor(ctx: Ctx): RagActor
  caller(ctx: Ctx): Caller
  label(ctx: Ctx): { userId: string; apiKeyId: string | null; label: string }
}

interface Ctx {
  request: Request
  meta: RequestMeta
  user?: UserRow
  apiKey?: VerifiedKey
}

const internal: Surface = {
  prefix: '/api-internal/v1/rag',
  tag: 'documents',
  guard: (level) => ({ permission: level === 'read' ? 'rag:read' : 'rag:write' }),
  actor: ({ user }) => ({ userId: user!.id, isAdmin: holds(user!, 'rag:admin') }),
  caller: ({ request, user }) => ({ source: 'rag', userId: user!.id, apiKey: null, requestId: requestIdOf(request), startedAt: startedAt(request) }),
  label: ({ user }) => ({ userId: user!.id, apiKeyId: null, label: user!.email }),
}

/** An API key acts for its owner, never with its owner's admin reach, and may be narrowed to some collections. */
const external: Surface = {
  prefix: '/api/v1/rag',
  tag: 'public documents',
  guard: (level) => ({ apiKey: level === 'read' ? 'rag:read' : 'rag:write' }),
  actor: ({ apiKey }) => ({ userId: apiKey!.user_id, isAdmin: false, allowedCollections: apiKey!.allowed_collections }),
  caller: ({ request, apiKey }) => ({ source: 'api', userId: apiKey!.user_id, apiKey: apiKey!, requestId: requestIdOf(request), startedAt: startedAt(request) }),
  label: ({ apiKey }) => ({ userId: apiKey!.user_id, apiKeyId: apiKey!.id, label: `key ${apiKey!.key_prefix}` }),
}

/** Collections, documents and search, the same on the internal API (JWT) and the public API (API key scopes). */
export function ragRoutes(s: Services) {
  return new Elysia().use(surfaceRoutes(s, internal)).use(surfaceRoutes(s, external))
}

function surfaceRoutes(s: Services, surface: Surface) {
  const { rag } = s
  const audit = (ctx: Ctx, action: string, type: string, id: string, details: Record<string, unknown> = {}) =>
    s.audit.record({ action, outcome: 'success', actor: surface.label(ctx), resource: { type, id }, details }, ctx.meta)

  async function checkModel(ctx: Ctx, model: string | null | undefined): Promise<void> {
    if (!model) return
    if (!(await s.registry.resolve(model))) throw new ApiError('model_not_found', `The embedding model '${model}' does not exist`, 'embedding_model')
    const allowed = ctx.apiKey?.allowed_models ?? []
    if (allowed.length > 0 && !allowed.includes(model))
      throw new ApiError('model_not_allowed', `This API key may not use the model '${model}'`, 'embedding_model')
  }

  return new Elysia({ prefix: surface.prefix, tags: [surface.tag] })
    .use(guards(s.guardDeps))
    .get(
      '/limits',
      () => ({ extensions: [...SUPPORTED_EXTENSIONS], max_file_bytes: rag.documents.maxFileBytes, max_files_per_upload: MAX_FILES_PER_UPLOAD }),
      { ...surface.guard('read'), response: UploadLimitsSchema, detail: { summary: 'Upload limits: accepted file extensions, the largest file, files per request' } },
    )
    .get('/collections', async (ctx) => ({ data: (await rag.collections.list(surface.actor(ctx as Ctx))).map(presentCollection) }), {
      ...surface.guard('read'),
      response: t.Object({ data: t.Array(CollectionSchema) }),
      detail: { summary: 'Collections you can reach' },
    })
    .post(
      '/collections',
      async (ctx) => {
        const c = ctx as unknown as Ctx
        // Omitted (not null): the platform's default embeddings model (a runtime setting), if one is set.
        const body = ctx.body.embedding_model === undefined ? { ...ctx.body, embedding_model: s.settings.current.default_embedding_model } : ctx.body
        await checkModel(c, body.embedding_model)
        const row = await rag.collections.create(surface.actor(c).userId, body)
        await audit(c, 'rag.collection.create', 'collection', row.id, { name: row.name })
        ctx.set.status = 201
        return presentCollection(row)
      },
      { ...surface.guard('write'), body: CreateCollectionBody, response: { 201: CollectionSchema }, detail: { summary: 'Create a collection' } },
    )
    .get('/collections/:id', async (ctx) => presentCollection(await rag.collections.get(surface.actor(ctx as Ctx), ctx.params.id)), {
      ...surface.guard('read'),
      params: IdParams,
      response: CollectionSchema,
      detail: { summary: 'One collection with its counts' },
    })
    .patch(
      '/collections/:id',
      async (ctx) => {
        const c = ctx as unknown as Ctx
        await checkModel(c, ctx.body.embedding_model)
        let queued: DocumentRow[] = []
        const before = presentCollection(await rag.collections.get(surface.actor(c), ctx.params.id))
        const { row, reindexed } = await rag.collections.update(surface.actor(c), ctx.params.id, ctx.body, async (tx, change) => {
          queued = await rag.documents.requeueCollection(tx, ctx.params.id, change)
        })
        rag.documents.announce(queued)
        const fields = Object.keys(ctx.body)
        await audit(c, 'rag.collection.update', 'collection', row.id, { fields, changes: changes(before, presentCollection(row), fields), reindex: reindexed })
        return presentCollection(row)
      },
      { ...surface.guard('write'), params: IdParams, body: UpdateCollectionBody, response: CollectionSchema, detail: { summary: 'Change a collection (chunking or model changes re-index it)' } },
    )
    .delete(
      '/collections/:id',
      async (ctx) => {
        const c = ctx as unknown as Ctx
        await rag.deleteCollection(surface.actor(c), ctx.params.id)
        await audit(c, 'rag.collection.delete', 'collection', ctx.params.id)
        ctx.set.status = 204
      },
      { ...surface.guard('write'), params: IdParams, detail: { summary: 'Delete a collection with all its documents, chunks, vectors and files' } },
    )
    .post(
      '/collections/:id/documents',
      async (ctx) => {
        const c = ctx as unknown as Ctx
        const files = await Promise.all(
          ctx.body.files.map(async (f) => ({ filename: f.name, contentType: f.type || null, bytes: new Uint8Array(await f.arrayBuffer()) })),
        )
        const result = await rag.documents.upload(surface.actor(c), ctx.params.id, files)
        await s.audit.recordMany(
          result.accepted.map((d) => ({
            action: 'rag.document.upload',
            outcome: 'success' as const,
            actor: surface.label(c),
            resource: { type: 'document', id: d.id },
            details: { filename: d.filename, size: d.size },
          })),
          c.meta,
        )
        if (result.accepted.length > 0) {
          ctx.set.status = 202
          return result
        }
        ctx.set.status = 400
        return { ...result, error: refusal(result.rejected) }
      },
      {
        ...surface.guard('write'),
        params: IdParams,
        body: UploadBody,
        response: { 202: UploadResultSchema, 400: UploadRefusedSchema },
        detail: {
          summary: 'Upload files (multipart field "files", many at once); indexing runs in the background',
          description:
            'Answers 202 with the accepted documents and every refused file with its reason; 400 when none was accepted, with an `error` envelope as well.',
        },
      },
    )
    .get(
      '/collections/:id/documents',
      async (ctx) => {
        const { items, total } = await rag.documents.list(surface.actor(ctx as Ctx), ctx.params.id, ctx.query)
        return { data: items.map(presentDocument), total }
      },
      { ...surface.guard('read'), params: IdParams, query: DocumentQuery, response: t.Object({ data: t.Array(DocumentSchema), total: t.Integer() }), detail: { summary: 'Documents with their indexing status' } },
    )
    .get('/collections/:id/events', async (ctx) => rag.progressStream(surface.actor(ctx as Ctx), ctx.params.id, ctx.request.signal), {
      ...surface.guard('read'),
      params: IdParams,
      detail: { summary: 'Server-sent events: a snapshot of unfinished documents, then every status and progress change' },
    })
    .post(
      '/collections/:id/search',
      async (ctx) => {
        const c = ctx as unknown as Ctx
        return rag.search.search(surface.actor(c), ctx.params.id, ctx.body, surface.caller(c), ctx.request.signal)
      },
      { ...surface.guard('read'), params: IdParams, body: SearchBody, response: SearchResponseSchema, detail: { summary: 'Lexical (BM25), vector or hybrid search with per-ranker scores' } },
    )
    .get('/documents/:id', async (ctx) => presentDocument((await rag.documents.get(surface.actor(ctx as Ctx), ctx.params.id)).doc), {
      ...surface.guard('read'),
      params: IdParams,
      response: DocumentSchema,
      detail: { summary: 'One document: status, error, counts, metadata' },
    })
    .get(
      '/documents/:id/chunks',
      async (ctx) => {
        const { items, total } = await rag.documents.chunks(surface.actor(ctx as Ctx), ctx.params.id, ctx.query)
        return { data: items.map(presentChunk), total }
      },
      { ...surface.guard('read'), params: IdParams, query: t.Object(Page), response: t.Object({ data: t.Array(ChunkSchema), total: t.Integer() }), detail: { summary: "A document's chunks in order" } },
    )
    .get(
      '/documents/:id/download',
      async (ctx) => {
        const c = ctx as unknown as Ctx
        const { doc, bytes } = await rag.documents.download(surface.actor(c), ctx.params.id)
        await audit(c, 'rag.document.download', 'document', doc.id)
        return new Response(bytes, {
          headers: {
            'content-type': doc.content_type || 'application/octet-stream',
            'content-disposition': `attachment; filename="${doc.filename.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(doc.filename)}`,
            'x-content-type-options': 'nosniff',
          },
        })
      },
      { ...surface.guard('read'), params: IdParams, detail: { summary: 'The original file, decrypted' } },
    )
    .post(
      '/documents/:id/reprocess',
      async (ctx) => {
        const c = ctx as unknown as Ctx
        const row = await rag.documents.reprocess(surface.actor(c), ctx.params.id)
        await audit(c, 'rag.document.reprocess', 'document', row.id)
        ctx.set.status = 202
        return presentDocument(row)
      },
      { ...surface.guard('write'), params: IdParams, response: { 202: DocumentSchema }, detail: { summary: 'Index the document again' } },
    )
    .delete(
      '/documents/:id',
      async (ctx) => {
        const c = ctx as unknown as Ctx
        await rag.documents.delete(surface.actor(c), ctx.params.id)
        await audit(c, 'rag.document.delete', 'document', ctx.params.id)
        ctx.set.status = 204
      },
      { ...surface.guard('write'), params: IdParams, detail: { summary: 'Delete a document with its chunks, vectors and file' } },
    )
}
