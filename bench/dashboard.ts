/**
 * The dashboard in Chromium against the real platform (a server process on the embedded defaults): bundle size,
 * and how long the Overview takes until it is interactive — from navigation start until the signed-in user's
 * details and the usage charts are rendered (the page has restored its session through the refresh cookie and
 * called the API by then). Cold = a fresh browser context (empty cache) that signed in through the API; warm = the
 * same context loading again.
 *
 *   bun bench/dashboard.ts           BENCH_LOADS (default 10)
 */
import type { Page } from 'playwright-core'
import { ADMIN_EMAIL, ADMIN_PASSWORD, bundleSizes, startDashboard } from '../test/dashboard-fixture.ts'
import { summarize } from './lib/stats.ts'

const LOADS = Number(process.env.BENCH_LOADS ?? 10)

const d = await startDashboard()
const sizes = bundleSizes(d.dist)
console.log(
  `bundle (JS+CSS): ${(sizes.raw / 1024).toFixed(1)} KB raw, ${(sizes.gzip / 1024).toFixed(1)} KB gzip in all; ` +
    `${(sizes.initialGzip / 1024).toFixed(1)} KB gzip loaded by the first page`,
)

/** Milliseconds from navigation start until the Overview shows the user and its charts. */
async function load(page: Page): Promise<number> {
  await page.goto(`${d.base}/`)
  await page.getByTestId('me').waitFor()
  await page.locator('figure.chart canvas').first().waitFor()
  return page.evaluate<number>('performance.now()')
}

try {
  const cold: number[] = []
  const warm: number[] = []
  for (let i = 0; i < LOADS; i++) {
    const context = await d.browser.newContext()
    const res = await context.request.post(`${d.base}/api-internal/v1/auth/login`, { data: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, cookie: true } })
    if (res.status() !== 200) throw new Error(`login failed: ${res.status()}`)
    const page = await context.newPage()
    cold.push(await load(page))
    warm.push(await load(page))
    await context.close()
  }
  const c = summarize(cold)
  const w = summarize(warm)
  console.log(
    `Overview interactive (navigation start -> user and charts shown), ${LOADS} loads: cold p50 ${c.p50.toFixed(0)} ms, ` +
      `max ${c.max.toFixed(0)} ms; warm p50 ${w.p50.toFixed(0)} ms, max ${w.max.toFixed(0)} ms`,
  )
} finally {
  await d.close()
}
