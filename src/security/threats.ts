/**
 * Threat detection by address: credential stuffing (many failed sign-ins from one address across accounts) and
 * probing (traversal, injection and scanner requests). Both count in the cache store, so every replica adds to the
 * same counters (Redis when configured), and both end in an IpBlocks block. Counting fails open: a cache outage
 * never fails a sign-in or a request, it only stops counting (and is logged).
 */
import { createHash } from 'node:crypto'
import type { CacheStore } from '../cache/types.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import type { Logger } from '../log.ts'
import type { AuditLog } from '../audit/service.ts'
import { normalizeIp, type IpBlocks } from './ip-blocks.ts'
import type { SecuritySettings } from './settings.ts'

export type ProbeKind = 'traversal' | 'injection' | 'scanner_path' | 'scanner_agent'

const TRAVERSAL = /(?:\.\.|%2e%2e|%252e%252e|\.%2e|%2e\.)(?:\/|\\|%2f|%5c|%252f|;)|\/etc\/(?:passwd|shadow|hosts)|\/proc\/self\/|(?:win|boot)\.ini|c:(?:\\|%5c)windows/i
const INJECTION =
  /union(?:\s|\+|%20|\/\*[^*]*\*\/)+(?:all(?:\s|\+|%20)+)?select|(?:'|%27)(?:\s|\+|%20)*or(?:\s|\+|%20)+(?:'|%27)?\d+(?:'|%27)?(?:\s|\+|%20)*(?:=|%3d)|\b(?:sleep|benchmark|pg_sleep)(?:\(|%28)\d|waitfor(?:\s|\+|%20)+delay|<script|%3cscript|javascript:|\bon(?:error|load)(?:=|%3d)|\$\{jndi:|%24%7bjndi|\$\{\$\{|\{\{\s*7\s*\*\s*7\s*\}\}|%00|(?:;|%3b|\||%7c)(?:\s|\+|%20)*(?:cat|id|whoami|uname|wget|curl)(?:\s|\+|%20|$)/i
const SCANNER_PATH =
  /\/\.(?:env|git|svn|hg|aws|ssh|htaccess|htpasswd|ds_store|docker)(?:\/|$|\.|\?)|\/wp-(?:admin|login|content|includes|config)|\/xmlrpc\.php|\/phpmyadmin|\/pma\/|\/phpinfo|\.(?:php\d?|asp|aspx|jsp|cgi)(?:$|\?|\/)|\/cgi-bin\/|\/actuator(?:\/|$)|\/server-status|\/vendor\/phpunit|\/solr\/admin|\/manager\/html|\/boaform|\/hnap1|\/owa\/|\/autodiscover\/|\/geoserver\/|\/\.well-known\/acme-challenge\/\.\./i
const SCANNER_AGENT =
  /\b(?:sqlmap|nikto|nmap|masscan|zgrab|nuclei|gobuster|dirbuster|dirb|wpscan|acunetix|nessus|openvas|wfuzz|ffuf|feroxbuster|hydra|w3af|arachni|skipfish|whatweb|commix|zmeu|jorgee|netsparker|appscan)\b/i

/**
 * Whether a request's address line or user agent looks like probing, and which kind. Only the URL and the user agent
 * are looked at: bodies are prompts and documents, in which SQL or "../" are ordinary text.
 */
export function probeKind(url: string, userAgent: string | null): ProbeKind | null {
  const at = url.indexOf('/', url.indexOf('//') + 2)
  const target = at < 0 ? '/' : url.slice(at)
  if (TRAVERSAL.test(target)) return 'traversal'
  if (INJECTION.test(target)) return 'injection'
  const q = target.indexOf('?')
  if (SCANNER_PATH.test(q < 0 ? target : target.slice(0, q))) return 'scanner_path'
  if (userAgent && SCANNER_AGENT.test(userAgent)) return 'scanner_agent'
  return null
}

const accountTag = (email: string) => createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 16)

export class ThreatDetector {
  readonly #cache: CacheStore
  readonly #log: Logger
  readonly #audit: AuditLog
  readonly #blocks: IpBlocks
  readonly #settings: SecuritySettings

  constructor(deps: { cache: CacheStore; log: Logger; audit: AuditLog; blocks: IpBlocks; settings: SecuritySettings }) {
    this.#cache = deps.cache
    this.#log = deps.log
    this.#audit = deps.audit
    this.#blocks = deps.blocks
    this.#settings = deps.settings
  }

  /**
   * One failed sign-in from `meta.ip` naming `email` (an account that exists or not). More than
   * login_ip_max_failures within login_ip_window_minutes, naming at least login_ip_min_accounts different accounts,
   * blocks the address for login_ip_block_minutes. The per-account lockout is separate and still applies.
   */
  async loginFailed(email: string, meta: RequestMeta): Promise<void> {
    const ip = normalizeIp(meta.ip)
    if (!ip || this.#settings.trusted(ip)) return
    const s = this.#settings.current
    const windowMs = s.login_ip_window_minutes * 60_000
    try {
      // Distinct accounts: the first failure naming an account in the window counts it once.
      const first = (await this.#cache.increment(`sec:login:acct:${ip}:${accountTag(email)}`, 1, windowMs)) === 1
      const accounts = first
        ? await this.#cache.increment(`sec:login:accounts:${ip}`, 1, windowMs)
        : Number((await this.#cache.get(`sec:login:accounts:${ip}`)) ?? 1)
      const failures = await this.#cache.hitWindow(`sec:login:failures:${ip}`, s.login_ip_max_failures, windowMs)
      if (failures.allowed || accounts < s.login_ip_min_accounts) return
      await this.#blocks.block(
        ip,
        {
          reason: 'credential_stuffing',
          minutes: s.login_ip_block_minutes,
          details: { failures: Math.floor(failures.count) + 1, accounts, window_minutes: s.login_ip_window_minutes },
        },
        { ...meta, ip },
      )
    } catch (err) {
      this.#log.error({ ip, err: (err as Error).message }, 'sign-in failure not counted (cache or database unavailable); failing open')
    }
  }

  /** A probing request from `meta.ip`: counted, the first of a window audited, and past probe_threshold blocked. */
  async probe(kind: ProbeKind, path: string, meta: RequestMeta): Promise<void> {
    const ip = meta.ip
    if (!ip || this.#settings.trusted(ip)) return
    const s = this.#settings.current
    const windowMs = s.probe_window_minutes * 60_000
    try {
      if ((await this.#cache.increment(`sec:probe:seen:${ip}`, 1, windowMs)) === 1)
        await this.#audit.record(
          { action: 'security.probe', outcome: 'denied', actor: { label: 'threat detection' }, resource: { type: 'ip', id: ip }, details: { kind, path: path.slice(0, 200) } },
          meta,
        )
      const hits = await this.#cache.hitWindow(`sec:probe:${ip}`, s.probe_threshold, windowMs)
      if (hits.allowed) return
      await this.#blocks.block(ip, { reason: 'probing', minutes: s.probe_block_minutes, details: { kind, probes: s.probe_threshold, window_minutes: s.probe_window_minutes } }, meta)
    } catch (err) {
      this.#log.error({ ip, err: (err as Error).message }, 'probe not counted (cache or database unavailable); failing open')
    }
  }
}
