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
import { AgentService } from './agents/service.ts'
import { AgentRunner } from './agents/runner.ts'
import { ToolEngine } from './tools/engine.ts'
import { ragSearchTools } from './tools/kinds/rag-search.ts'
import { webFetchTools } from './tools/kinds/web-fetch.ts'
import { CodeSandbox } from './tools/code-sandbox.ts'
import { codeInterpreterTools } from './tools/kinds/code-interpreter.ts'
import { pluginTools } from './tools/kinds/plugin.ts'
import { mcpTools } from './tools/kinds/mcp.ts'
import { McpServerService } from './mcp/service.ts'
import { ResponseEngine } from './responses/engine.ts'
import { mcpSource } from './responses/mcp-source.ts'
import { PromptService } from './responses/prompts.ts'
import { ResponseStore } from './responses/store.ts'
import { RagService } from './rag/service.ts'
import { RateLimiter } from './rate-limit/limiter.ts'
import { UserAdminService } from './users/admin.ts'
import { UserService } from './users/service.ts'
import { SecurityService } from './security/service.ts'

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
  /** The code interpreter's sandbox processes (code_interpreter tools), started on first use. */
  codeInterpreter: CodeSandbox
  /** The tools engine: what agents (and chatbots in agent mode) may call, resolved per caller. */
  tools: ToolEngine
  agents: AgentService
  agentRunner: AgentRunner
  /** MCP servers Enclava calls as tools (their sealed headers, tool lists, calls). */
  mcp: McpServerService
  /** The Responses and Conversations APIs' state (sealed items), the state machine, and prompt templates. */
  responseStore: ResponseStore
  responseEngine: ResponseEngine
  prompts: PromptService
  /** Confidentiality policies, DLP, prompt-injection scoring, IP blocks, key anomalies and security events. */
  security: SecurityService
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
    // Called on failed sign-ins only, long after `security` below is built.
    threats: { loginFailed: (email, meta) => security.threats.loginFailed(email, meta) },
  })
  const verifier = new ApiKeyVerifier(sql, cache, log, { recheckMs: config.API_KEY_RECHECK_SECONDS * 1000 })
  const security = new SecurityService({ config, sql, cache, log, audit, verifier })
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
  const gateway = new GatewayService(registry, budgets, ledger, limiter, log, audit, security.guard)
  const instanceId = crypto.randomUUID()
  const rag = new RagService({ config, sql, cache, log, gateway, workerId: instanceId, security: { service: security, audit } })
  // The engine first (chatbots in agent mode use it); its providers are registered as their services exist.
  const tools = new ToolEngine({ audit, log })
  const prompts = new PromptService(sql)
  const chatbots = new ChatbotService(sql, gateway, rag.search, new TemplateService(sql), security, tools, prompts)
  tools.register(ragSearchTools(rag))
  tools.register(webFetchTools())
  const plugins = new PluginService({ config, sql, cache, log, box, gateway, rag, chatbots, replica: instanceId })
  tools.register(pluginTools(plugins))
  const codeInterpreter = new CodeSandbox({
    logger: log,
    ...(config.SANDBOX_NODE_PATH ? { nodePath: config.SANDBOX_NODE_PATH } : {}),
    ...(config.SANDBOX_DIR ? { sandboxDir: config.SANDBOX_DIR } : {}),
  })
  tools.register(codeInterpreterTools(codeInterpreter))
  const mcp = new McpServerService(sql, box)
  tools.register(mcpTools(mcp))
  const responseStore = new ResponseStore(sql, box)
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
    plugins,
    codeInterpreter,
    tools,
    agents: new AgentService(sql),
    agentRunner: new AgentRunner({ sql, gateway, tools, log, security }),
    mcp,
    responseStore,
    prompts,
    responseEngine: new ResponseEngine({ gateway, tools, store: responseStore, prompts, mcp: mcpSource(mcp), log }),
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
      onKeyUse: (keyId, ip) => security.anomalies.seen(keyId, ip),
    },
    security,
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
  await s.security.start()
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
  await s.codeInterpreter.stop()
  await s.rag.stop()
  await unsubscribers.get(s)?.()
  await s.ledger.stop()
  await s.keyUsage.stop()
  await s.budgets.stop()
  await s.verifier.stop()
  await s.security.stop()
}
