/**
 * Headless Chromium for browser tests (the widget, the dashboard), driven by playwright-core against the system's
 * Chromium: no browser download at install time. A missing browser fails the test loudly instead of skipping it,
 * so a green run always means the browser tests ran.
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core'

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
]

/** CHROMIUM_PATH, else Debian's /usr/bin/chromium. */
export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
  if (!existsSync(path))
    throw new Error(
      `Chromium not found at ${path}. Install it (as root: apt-get install -y chromium) or point CHROMIUM_PATH at a Chromium binary.`,
    )
  return path
}

/**
 * @example
 * const browser = await launchChromium()
 * try { const page = await browser.newPage(); ... } finally { await browser.close() }
 */
export async function launchChromium(options: { args?: string[] } = {}): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: [...CHROMIUM_FLAGS, ...(options.args ?? [])] })
}

export interface PageErrors {
  /** Console errors and uncaught page errors, minus those `expected` accepts. */
  readonly list: string[]
}

/**
 * Collects a page's console errors and uncaught exceptions, so a test can insist on none. `expected` names the
 * deliberate ones (say, a refused request) precisely; everything else counts.
 */
export function collectErrors(page: Page, expected: (message: ConsoleMessage) => boolean = () => false): PageErrors {
  const list: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error' && !expected(message)) list.push(`console: ${message.text()} (${message.location().url})`)
  })
  page.on('pageerror', (error) => list.push(`pageerror: ${error.message}`))
  return { list }
}
