/**
 * Light/dark: follows `prefers-color-scheme` until the person picks one. The choice is a preference, not a secret:
 * it is kept in a plain cookie (the dashboard keeps nothing in web storage) so that it survives a reload.
 */
import { createSignal } from 'solid-js'

export type Theme = 'light' | 'dark'
export type ThemeChoice = Theme | 'system'

const COOKIE = 'enclava_theme'
const YEAR_S = 365 * 24 * 3600

function saved(): Theme | null {
  const match = /(?:^|;\s*)enclava_theme=(light|dark)(?:;|$)/.exec(document.cookie)
  return (match?.[1] as Theme | undefined) ?? null
}

const media = window.matchMedia('(prefers-color-scheme: dark)')
const [chosen, setChosen] = createSignal<Theme | null>(saved())
const [system, setSystem] = createSignal<Theme>(media.matches ? 'dark' : 'light')
media.addEventListener('change', (e) => setSystem(e.matches ? 'dark' : 'light'))

function apply(choice: Theme | null): void {
  if (choice) document.documentElement.dataset.theme = choice
  else delete document.documentElement.dataset.theme
}
apply(chosen())

export const theme = (): Theme => chosen() ?? system()
/** What the person picked: a theme, or following the system. */
export const themeChoice = (): ThemeChoice => chosen() ?? 'system'

export function setTheme(choice: ThemeChoice): void {
  const next = choice === 'system' ? null : choice
  setChosen(next)
  apply(next)
  document.cookie = next ? `${COOKIE}=${next}; path=/; max-age=${YEAR_S}; samesite=strict` : `${COOKIE}=; path=/; max-age=0; samesite=strict`
}

export function toggleTheme(): void {
  setTheme(theme() === 'dark' ? 'light' : 'dark')
}
