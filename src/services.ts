import { ApiKeyService } from './api-keys/service.ts'
import { KeyUsageRecorder } from './api-keys/usage-recorder.ts'
import { ApiKeyVerifier } from './api-keys/verifier.ts'
import { AuditLog } from './audit/service.ts'
import type { GuardDeps } from './auth/guards.ts'
import { AuthService } from './auth/service.ts'
import { AccessTokens } from './auth/tokens.ts'
import type { CacheStore } from './cache/types.ts'
import type { Config } from './config.ts'
import type { Sql } from './db/client.ts'
import type { Logger } from './log.ts'
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
  guardDeps: GuardDeps
  /** Set while shutting down, so readiness fails and load balancers stop sending traffic. */
  draining: boolean
}

export function createServices(stores: Stores): Services {
  const { config, sql, cache, log } = stores
  const audit = new AuditLog(sql, log)
  const users = new UserService(sql)
  const auth = new AuthService({
    sql,
    users,
    audit,
    tokens: new AccessTokens(config.JWT_SECRET, config.ACCESS_TOKEN_TTL_SECONDS),
    options: {
      refreshTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
      lockoutThreshold: config.LOCKOUT_THRESHOLD,
      lockoutMinutes: config.LOCKOUT_MINUTES,
      allowRegistration: config.ALLOW_REGISTRATION,
    },
  })
  const verifier = new ApiKeyVerifier(sql, cache, log)
  const keyUsage = new KeyUsageRecorder(sql, log)
  return {
    ...stores,
    audit,
    users,
    auth,
    userAdmin: new UserAdminService(users, auth, verifier, audit),
    apiKeys: new ApiKeyService(sql),
    verifier,
    keyUsage,
    guardDeps: { instanceId: crypto.randomUUID(), auth, verifier, keyUsage, trustProxy: config.TRUST_PROXY },
    draining: false,
  }
}

export async function startServices(s: Services): Promise<void> {
  await s.verifier.start()
  s.keyUsage.start()
}

export async function stopServices(s: Services): Promise<void> {
  await s.keyUsage.stop()
  await s.verifier.stop()
}
