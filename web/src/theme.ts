/**
 * Light/dark: follows `prefers-color-scheme` until the person picks one with the toggle. The choice is a
 * preference, not a secret, but the dashboard keeps nothing in web storage, so it lasts for this page load only.
 */
import { createSignal } from 'solid-js'

export type Theme = 'light' | 'dark'

const media = window.matchMedia('(prefers-color-scheme: dark)')
const [chosen, setChosen] = createSignal<Theme | null>(null)
const [system, setSystem] = createSignal<Theme>(media.matches ? 'dark' : 'light')
media.addEventListener('change', (e) => setSystem(e.matches ? 'dark' : 'light'))

export const theme = (): Theme => chosen() ?? system()

export function toggleTheme(): void {
  const next: Theme = theme() === 'dark' ? 'light' : 'dark'
  setChosen(next)
  document.documentElement.dataset.theme = next
}
