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
import { RoleRegistry } from './roles/registry.ts'
import { RoleService } from './roles/service.ts'
import { PlatformSettings } from './settings/service.ts'
import { gatedTools, ModuleRegistry } from './modules/service.ts'
import { NotificationService } from './notifications/service.ts'
import { NotificationChannels } from './notifications/channels.ts'
import { NotificationSources } from './notifications/sources.ts'
import { RetentionService } from './retention/service.ts'
import { DataRights } from './retention/data-rights.ts'

export interface Stores {
  config: Config
  sql: Sql
  cache: CacheStore
  log: Logger
  /**
   * This process is the only one writing the database: the embedded one, whose directory one process opens. What it
   * wrote stays true until it writes again, so some reads are answered from memory (plugins' kv).
   */
  soleWriter: boolean
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
  /** Every role's permissions on this replica (built-in and custom), and custom role administration. */
  roles: RoleRegistry
  roleAdmin: RoleService
  /** Platform settings changed at run time (the security thresholds are security.settings). */
  settings: PlatformSettings
  /** Which modules (chatbots, rag, agents, plugins, playground) are enabled. */
  modules: ModuleRegistry
  /** Notification events, their outbox and its worker; channels, the delivery log and inboxes; where events come from. */
  notifications: NotificationService
  notificationChannels: NotificationChannels
  notificationSources: NotificationSources
  /** Scheduled deletion of expired data, and users' export and erasure. */
  retention: RetentionService
  dataRights: DataRights
  guardDeps: GuardDeps
  /** Whether a request presents a valid API key or access token (cheap: cached key, signed token), before parsing. */
  credentialed: (request: Request) => Promise<boolean>
  /** Set while shutting down, so readiness fails and load balancers stop sending traffic. */
  draining: boolean
}

export function createServices(stores: Stores): Services {
  const { config, sql, cache, log, soleWriter } = stores
  const audit = new AuditLog(sql, log)
  const users = new UserService(sql)
  const roles = new RoleRegistry({ sql, cache, log })
  const tokens = new AccessTokens(config.JWT_SECRET, config.ACCESS_TOKEN_TTL_SECONDS)
  const auth = new AuthService({
    sql,
    users,
    audit,
    tokens,
    options: {
      refreshTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
      // Runtime settings, read on each use (the settings are built below, before any request).
      get lockoutThreshold() {
        return settings.current.lockout_threshold
      },
      get lockoutMinutes() {
        return settings.current.lockout_minutes
      },
      get allowRegistration() {
        return settings.current.allow_registration
      },
    },
    // Called on failed sign-ins only, long after `security` below is built.
    threats: { loginFailed: (email, meta) => security.threats.loginFailed(email, meta) },
  })
  const verifier = new ApiKeyVerifier(sql, cache, log, { recheckMs: config.API_KEY_RECHECK_SECONDS * 1000 })
  const security = new SecurityService({ config, sql, cache, log, audit, verifier })
  const keyUsage = new KeyUsageRecorder(sql, log)
  const limiter = new RateLimiter(cache, log)
  const box = new SecretBox(config.ENCRYPTION_KEY)
  const settings = new PlatformSettings({ sql, cache, log, audit, box, config, security: security.settings })
  const modules = new ModuleRegistry({ sql, cache, log, audit })
  const instanceId = crypto.randomUUID()
  const notifications = new NotificationService({ sql, box, log, settings, roles, replica: instanceId })
  const sources = new NotificationSources({ sql, log, notifications })
  audit.onRecord((entry) => sources.audited(entry))
  const circuitDefaults = providerDefaults(config, log)
  const logCircuit = circuitDefaults.onCircuit
  circuitDefaults.onCircuit = (provider, state, reason) => {
    logCircuit?.(provider, state, reason)
    void sources.providerCircuit(provider, state, reason).catch((err) => log.error({ err: (err as Error).message }, 'provider notification not raised'))
  }
  const registry = new ModelRegistry({ sql, box, configured: providersFromConfig(config, log, circuitDefaults), defaults: circuitDefaults, log })
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
  const rag = new RagService({
    config,
    sql,
    cache,
    log,
    gateway,
    workerId: instanceId,
    security: { service: security, audit },
    onDocumentFailed: (doc, error) => void sources.documentFailed(doc, error),
    maxFileBytes: () => Math.floor(settings.current.upload_max_file_mb * 1024 * 1024),
  })
  // The engine first (chatbots in agent mode use it); its providers are registered as their services exist.
  const tools = new ToolEngine({ audit, log })
  const prompts = new PromptService(sql)
  const chatbots = new ChatbotService(sql, gateway, rag.search, new TemplateService(sql), security, tools, prompts)
  tools.register(gatedTools(modules, 'rag', ragSearchTools(rag)))
  tools.register(webFetchTools(rag.preparer))
  const plugins = new PluginService({
    config,
    sql,
    cache,
    log,
    box,
    gateway,
    rag,
    chatbots,
    replica: instanceId,
    soleWriter,
    onAutoDisabled: (name, reason) => void sources.pluginDisabled(name, reason),
  })
  tools.register(gatedTools(modules, 'plugins', pluginTools(plugins)))
  // Plugin logs are kept as long as the setting says (the records' own pruning reads this).
  settings.onChange((current) => {
    plugins.records.limits.retentionDays = current.retention_plugin_logs_days
  })
  const dataRights = new DataRights({ sql, box, rag, log })
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
    userAdmin: new UserAdminService(users, auth, verifier, audit, roles, async (id) => {
      await dataRights.erase(id)
    }),
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
      roles,
      // Runtime settings, read on each request.
      get publicPerMinute() {
        return settings.current.rate_limit_public_per_minute
      },
      get internalPerMinute() {
        return settings.current.rate_limit_internal_per_minute
      },
      trustProxy: config.TRUST_PROXY,
      onKeyUse: (keyId, ip) => security.anomalies.seen(keyId, ip),
    },
    security,
    roles,
    roleAdmin: new RoleService(sql, roles, audit),
    settings,
    modules,
    notifications,
    notificationChannels: new NotificationChannels({ sql, box, audit, settings }),
    notificationSources: sources,
    retention: new RetentionService({ sql, log, audit, settings, replica: instanceId, embedded: !config.DATABASE_URL }),
    dataRights,
    draining: false,
  }
}

const sweepers = new WeakMap<Services, ReturnType<typeof setInterval>>()
const unsubscribers = new WeakMap<Services, () => Promise<void>>()

/** Provider and model settings changed on some replica: every replica reloads them on next use. */
export const REGISTRY_CHANNEL = 'llm:registry'

export async function startServices(s: Services): Promise<void> {
  // Usage records a stopped or crashed process could not write wait in DATA_DIR/spool; written (once) before serving.
  await s.ledger.replaySpool()
  await s.verifier.start()
  await s.roles.start()
  await s.security.start()
  await s.settings.start()
  await s.budgets.start()
  s.keyUsage.start()
  await s.rag.start()
  await s.plugins.start()
  // A disabled module's background work pauses on every replica, and resumes when it is enabled again.
  s.modules.background('rag', { describe: 'document indexing queue', pause: () => s.rag.queue.stop(), resume: () => s.rag.queue.start() })
  s.modules.background('plugins', { describe: 'plugin cron jobs', pause: () => s.plugins.cron.pause(), resume: () => s.plugins.cron.start() })
  await s.modules.start()
  s.notifications.start()
  s.notificationSources.start()
  s.retention.start()
  unsubscribers.set(s, await s.cache.subscribe(REGISTRY_CHANNEL, () => s.registry.invalidate()))
  const sweeper = setInterval(() => {
    s.budgets.releaseExpired().catch((err) => s.log.error({ err: (err as Error).message }, 'reservation sweep failed'))
  }, 60_000)
  sweeper.unref()
  sweepers.set(s, sweeper)
}

export async function stopServices(s: Services): Promise<void> {
  clearInterval(sweepers.get(s))
  s.notificationSources.stop()
  await s.retention.stop()
  await s.notifications.stop()
  await s.modules.stop()
  await s.plugins.stop()
  await s.codeInterpreter.stop()
  await s.rag.stop()
  await unsubscribers.get(s)?.()
  await s.ledger.stop()
  await s.keyUsage.stop()
  await s.budgets.stop()
  await s.verifier.stop()
  await s.settings.stop()
  await s.roles.stop()
  await s.security.stop()
}
