import { join } from 'node:path'
import { ApiKeyService } from './api-keys/service.ts'
import { KeyUsageRecorder } from './api-keys/usage-recorder.ts'
import { ApiKeyVerifier } from './api-keys/verifier.ts'
import { AuditLog } from './audit/service.ts'
import { bearer, type GuardDeps } from './auth/guards.ts'
import { AuthService } from './auth/service.ts'
import { AccessTokens } from './auth/tokens.ts'
import type { CacheStore } from './cache/types.ts'
import type { Config } from './config.ts'
import type { Sql } from './db/client.ts'
import type { Logger } from './log.ts'
import { BudgetService } from './budgets/service.ts'
import { ModelRegistry, providerDefaults, providersFromConfig } from './gateway/registry.ts'
import { SecretBox } from './crypto/secretbox.ts'
import { GatewayService } from './gateway/service.ts'
import { GatewayAdmin } from './gateway/admin-service.ts'
import { warmTokenizer } from './gateway/tokens.ts'
import { UsageLedger } from './gateway/usage.ts'
import { AnalyticsService } from './analytics/service.ts'
import { ChatbotService } from './chatbots/service.ts'
import { TemplateService } from './chatbots/templates.ts'
import { PluginService } from './plugins/service.ts'
import { RagService } from './rag/service.ts'
import { RateLimiter } from './rate-limit/limiter.ts'
import { UserAdminService } from './users/admin.ts'
import { UserService } from './users/service.ts'

export interface Stores {
  config: Config
  sql: Sql
  cache: CacheStore
  log: Logger
}

/** Every service, wired once; domains receive this and take what they need. */
export interface Services extends Stores {
  audit: AuditLog
  users: UserService
  auth: AuthService
  userAdmin: UserAdminService
  apiKeys: ApiKeyService
  verifier: ApiKeyVerifier
  keyUsage: KeyUsageRecorder
  box: SecretBox
  limiter: RateLimiter
  registry: ModelRegistry
  budgets: BudgetService
  ledger: UsageLedger
  analytics: AnalyticsService
  gateway: GatewayService
  gatewayAdmin: GatewayAdmin
  rag: RagService
  chatbots: ChatbotService
  plugins: PluginService
  guardDeps: GuardDeps
  /** Whether a request presents a valid API key or access token (cheap: cached key, signed token), before parsing. */
  credentialed: (request: Request) => Promise<boolean>
  /** Set while shutting down, so readiness fails and load balancers stop sending traffic. */
  draining: boolean
}

export function createServices(stores: Stores): Services {
  const { config, sql, cache, log } = stores
  const audit = new AuditLog(sql, log)
  const users = new UserService(sql)
  const tokens = new AccessTokens(config.JWT_SECRET, config.ACCESS_TOKEN_TTL_SECONDS)
  const auth = new AuthService({
    sql,
    users,
    audit,
    tokens,
    options: {
      refreshTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
      lockoutThreshold: config.LOCKOUT_THRESHOLD,
      lockoutMinutes: config.LOCKOUT_MINUTES,
      allowRegistration: config.ALLOW_REGISTRATION,
    },
  })
  const verifier = new ApiKeyVerifier(sql, cache, log, { recheckMs: config.API_KEY_RECHECK_SECONDS * 1000 })
  const keyUsage = new KeyUsageRecorder(sql, log)
  const limiter = new RateLimiter(cache, log)
  const box = new SecretBox(config.ENCRYPTION_KEY)
  const registry = new ModelRegistry({ sql, box, configured: providersFromConfig(config, log), defaults: providerDefaults(config, log), log })
  const budgets = new BudgetService(sql, cache, log)
  const analytics = new AnalyticsService(sql, cache, log)
  const ledger = new UsageLedger({
    sql,
    budgets,
    audit,
    log,
    onRecorded: (users) => analytics.usageRecorded(users),
    spoolDir: join(config.DATA_DIR, 'spool'),
  })
  const gateway = new GatewayService(registry, budgets, ledger, limiter, log, audit)
  const instanceId = crypto.randomUUID()
  const rag = new RagService({ config, sql, cache, log, gateway, workerId: instanceId })
  const chatbots = new ChatbotService(sql, gateway, rag.search, new TemplateService(sql))
  return {
    ...stores,
    audit,
    users,
    auth,
    userAdmin: new UserAdminService(users, auth, verifier, audit),
    apiKeys: new ApiKeyService(sql),
    verifier,
    keyUsage,
    box,
    limiter,
    registry,
    budgets,
    ledger,
    analytics,
    gateway,
    gatewayAdmin: new GatewayAdmin(sql, box, registry, cache, REGISTRY_CHANNEL),
    rag,
    chatbots,
    plugins: new PluginService({ config, sql, cache, log, box, gateway, rag, chatbots, replica: instanceId }),
    credentialed: async (request: Request) => {
      const presented = bearer(request.headers.get('authorization')) ?? request.headers.get('x-api-key')
      if (!presented) return false
      return presented.startsWith('en_') ? verifier.recognises(presented) : (await tokens.verify(presented)) !== null
    },
    guardDeps: {
      instanceId,
      auth,
      verifier,
      keyUsage,
      limiter,
      publicPerMinute: config.RATE_LIMIT_PUBLIC_PER_MINUTE,
      internalPerMinute: config.RATE_LIMIT_INTERNAL_PER_MINUTE,
      trustProxy: config.TRUST_PROXY,
    },
    draining: false,
  }
}

const sweepers = new WeakMap<Services, ReturnType<typeof setInterval>>()
const unsubscribers = new WeakMap<Services, () => Promise<void>>()

/** Provider and model settings changed on some replica: every replica reloads them on next use. */
export const REGISTRY_CHANNEL = 'llm:registry'

export async function startServices(s: Services): Promise<void> {
  warmTokenizer()
  // Usage records a stopped or crashed process could not write wait in DATA_DIR/spool; written (once) before serving.
  await s.ledger.replaySpool()
  await s.verifier.start()
  await s.budgets.start()
  s.keyUsage.start()
  await s.rag.start()
  await s.plugins.start()
  unsubscribers.set(s, await s.cache.subscribe(REGISTRY_CHANNEL, () => s.registry.invalidate()))
  const sweeper = setInterval(() => {
    s.budgets.releaseExpired().catch((err) => s.log.error({ err: (err as Error).message }, 'reservation sweep failed'))
  }, 60_000)
  sweeper.unref()
  sweepers.set(s, sweeper)
}

export async function stopServices(s: Services): Promise<void> {
  clearInterval(sweepers.get(s))
  await s.plugins.stop()
  await s.rag.stop()
  await unsubscribers.get(s)?.()
  await s.ledger.stop()
  await s.keyUsage.stop()
  await s.budgets.stop()
  await s.verifier.stop()
}
