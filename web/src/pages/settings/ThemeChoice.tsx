/** Light, dark, or the system's; theme.ts applies the choice and keeps it (in a cookie) across reloads. */
import { For } from 'solid-js'
import { setTheme, themeChoice, type ThemeChoice as Choice } from '../../theme.ts'

const CHOICES: { value: Choice; label: string }[] = [
  { value: 'light', label: 'Light' },
  { value: 'dark', label: 'Dark' },
  { value: 'system', label: 'Same as the system' },
]

export function ThemeChoice() {
  return (
    <fieldset class="settings-theme">
      <legend>Theme</legend>
      <For each={CHOICES}>
        {(c) => (
          <label class="settings-radio">
            <input type="radio" name="theme" value={c.value} checked={themeChoice() === c.value} onChange={() => setTheme(c.value)} />
            {c.label}
          </label>
        )}
      </For>
      <p class="hint">Kept in this browser.</p>
    </fieldset>
  )
}
