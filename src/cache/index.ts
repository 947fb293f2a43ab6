import type { HandlerErrorSink } from './common.ts'
import { MemoryCache } from './memory.ts'
import type { CacheStore } from './types.ts'

export type { CacheStore, HitWindowOptions, WindowResult } from './types.ts'
export type { HandlerErrorSink } from './common.ts'
export { MemoryCache } from './memory.ts'

export interface OpenCacheOptions {
  /** Unset or empty: a process-local store, fine for a single replica but not shared between several. */
  redisUrl?: string | undefined
  /** Namespaces Redis keys and channels; ignored in memory, where nothing is shared. */
  prefix: string
  onHandlerError?: HandlerErrorSink | undefined
}

export async function openCache(opts: OpenCacheOptions): Promise<CacheStore> {
  if (opts.redisUrl) {
    // node-redis (25 MB resident once loaded) only where Redis is configured.
    const { RedisCache } = await import('./redis.ts')
    return RedisCache.connect(opts.redisUrl, opts.prefix, { onHandlerError: opts.onHandlerError })
  }
  return new MemoryCache({ onHandlerError: opts.onHandlerError })
}
