/**
 * Headless Chromium for browser tests (the widget, the dashboard), driven by playwright-core. Nothing to install:
 * the browser is, in this order,
 * 1. CHROMIUM_PATH, when set (it must exist);
 * 2. the system's Chromium or Chrome (/usr/bin/chromium, /usr/bin/chromium-browser, /usr/bin/google-chrome), unless
 *    ENCLAVA_TEST_SYSTEM_CHROMIUM=0 (to run the tests as a machine without one does);
 * 3. the headless Chromium in the npm package @sparticuz/chromium (a devDependency, x64 Linux only), unpacked once
 *    into the temporary directory (about 210 MB, a few seconds).
 * A missing browser fails the test loudly instead of skipping it, so a green run always means the browser tests ran.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core'

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
]

/**
 * The browser's language, whatever the machine's locale. Under LANG=C.UTF-8 (usual in containers and CI) the npm
 * build reports navigator.language 'en-US@posix', which Intl rejects: uPlot's module-level
 * `new Intl.NumberFormat(navigator.language)` threw and the dashboard never rendered. `--lang` does not change it.
 */
const BROWSER_LOCALE = { LC_ALL: 'en_US.UTF-8' }

const SYSTEM_CHROMIUMS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']

interface Chromium {
  path: string
  /** Where it came from, for the log line. */
  source: string
  /** Extra environment for the browser process (the npm build's own libraries when the system lacks them). */
  env: Record<string, string>
}

let found: Promise<Chromium> | undefined

/** The Chromium binary the browser tests use (see the top of this file); logs once which one. */
export async function chromiumPath(): Promise<string> {
  return (await findChromium()).path
}

function findChromium(): Promise<Chromium> {
  found ??= locate().then((c) => {
    const libs = c.env.LD_LIBRARY_PATH ? `, libraries from ${c.env.LD_LIBRARY_PATH}` : ''
    console.log(`browser tests: Chromium from ${c.source} (${c.path}${libs})`)
    return c
  })
  // A failure is not remembered: the next test file tries again and fails with its own message.
  found.catch(() => (found = undefined))
  return found
}

async function locate(): Promise<Chromium> {
  const configured = process.env.CHROMIUM_PATH
  if (configured) {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_PATH is ${configured}, which does not exist. Point it at a Chromium binary, or unset it.`)
    return { path: configured, source: 'CHROMIUM_PATH', env: {} }
  }
  if (process.env.ENCLAVA_TEST_SYSTEM_CHROMIUM !== '0') {
    const system = SYSTEM_CHROMIUMS.find((path) => existsSync(path))
    if (system) return { path: system, source: 'the system', env: {} }
  }
  return npmChromium()
}

/**
 * @sparticuz/chromium's browser, unpacked by the package itself, but in a child process whose temporary directory is
 * a private staging directory, renamed into place once complete. Left to itself, the package unpacks straight into
 * /tmp/chromium and returns whatever is there: half a binary after an interrupted first run or while another test
 * run is unpacking, or an older version's after an upgrade. The directory here is named by the package's version.
 */
async function npmChromium(): Promise<Chromium> {
  let entry: string
  try {
    entry = fileURLToPath(import.meta.resolve('@sparticuz/chromium'))
  } catch {
    throw new Error(
      `No Chromium: CHROMIUM_PATH is unset, none of ${SYSTEM_CHROMIUMS.join(', ')} exists, and @sparticuz/chromium is not installed (bun install).`,
    )
  }
  const pkg = join(dirname(entry), '..')
  const { version } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string }
  const dir = join(tmpdir(), `enclava-chromium-${version}`)
  if (!existsSync(join(dir, 'chromium'))) await unpack(entry, join(pkg, 'bin'), dir)
  const path = join(dir, 'chromium')
  const source = `@sparticuz/chromium ${version}`
  // The build links to the system's NSS (libnss3, libnspr4); a machine without them gets the copies the package
  // ships for Amazon Linux 2023 (they need glibc 2.34 or later, so they are the fallback, not the default).
  if (runs(path, {})) return { path, source, env: {} }
  const libs = join(dir, 'al2023', 'lib')
  const env = { LD_LIBRARY_PATH: [libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') }
  if (runs(path, env)) return { path, source, env }
  throw new Error(`The Chromium from @sparticuz/chromium at ${path} does not start (\`${path} --version\` fails, with and without LD_LIBRARY_PATH=${libs}); it is built for x64 Linux.`)
}

function runs(path: string, env: Record<string, string>): boolean {
  try {
    return Bun.spawnSync([path, '--version'], { env: { ...process.env, ...env }, stdout: 'ignore', stderr: 'ignore' }).exitCode === 0
  } catch {
    return false
  }
}

async function unpack(entry: string, bin: string, dir: string): Promise<void> {
  // Staging directories of test processes that are gone (interrupted while unpacking) are garbage.
  const prefix = `${basename(dir)}.partial-`
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(prefix))) {
    if (alive(Number(name.slice(prefix.length)))) continue
    try {
      rmSync(join(tmpdir(), name), { recursive: true, force: true })
    } catch {
      // Someone else's; not ours to remove.
    }
  }
  const staging = `${dir}.partial-${process.pid}`
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(staging)
  const script = `
    import chromium, { inflate } from ${JSON.stringify(entry)}
    await chromium.executablePath()
    await inflate(${JSON.stringify(join(bin, 'al2023.tar.br'))})`
  const child = Bun.spawn([process.execPath, '-e', script], {
    env: { ...process.env, TMPDIR: staging },
    stdout: 'ignore',
    stderr: 'pipe',
  })
  const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()])
  if (code !== 0 || !existsSync(join(staging, 'chromium'))) {
    rmSync(staging, { recursive: true, force: true })
    throw new Error(`Unpacking @sparticuz/chromium into ${staging} failed (exit ${code}): ${stderr.trim()}`)
  }
  try {
    renameSync(staging, dir)
  } catch {
    // Another test run finished first; its copy is the same.
    rmSync(staging, { recursive: true, force: true })
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * @example
 * const browser = await launchChromium()
 * try { const page = await browser.newPage(); ... } finally { await browser.close() }
 */
export async function launchChromium(options: { args?: string[] } = {}): Promise<Browser> {
  const { path, env } = await findChromium()
  return chromium.launch({
    executablePath: path,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...(options.args ?? [])],
    env: { ...process.env, ...BROWSER_LOCALE, ...env },
  })
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
