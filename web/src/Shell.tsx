import { createSignal, For, Show, type ParentProps } from 'solid-js'
import { A, useLocation, useNavigate } from '@solidjs/router'
import { signOut, user } from './session.ts'
import { theme, toggleTheme } from './theme.ts'

/** The dashboard's sections; all but Overview are still to be built. */
export const SECTIONS = [
  { path: '/', title: 'Overview' },
  { path: '/api-keys', title: 'API keys' },
  { path: '/budgets', title: 'Budgets' },
  { path: '/playground', title: 'Playground' },
  { path: '/providers', title: 'Providers' },
  { path: '/chatbots', title: 'Chatbots' },
  { path: '/documents', title: 'Documents' },
  { path: '/plugins', title: 'Plugins' },
  { path: '/mcp-servers', title: 'MCP servers' },
  { path: '/agents', title: 'Agents' },
  { path: '/prompts', title: 'Prompts' },
  { path: '/analytics', title: 'Analytics' },
  { path: '/audit-log', title: 'Audit log' },
  { path: '/security', title: 'Security' },
  { path: '/users', title: 'Users' },
  { path: '/settings', title: 'Settings' },
] as const

export function Shell(props: ParentProps) {
  const navigate = useNavigate()
  const location = useLocation()
  const [menuOpen, setMenuOpen] = createSignal(false)
  const [navOpen, setNavOpen] = createSignal(false)
  const [leaving, setLeaving] = createSignal(false)

  async function leave() {
    setLeaving(true)
    await signOut()
    navigate('/sign-in', { replace: true })
  }

  return (
    <div class="shell">
      <header class="topbar">
        <button class="secondary nav-toggle" aria-expanded={navOpen()} aria-controls="sidenav" onClick={() => setNavOpen(!navOpen())}>
          Menu
        </button>
        <span class="brand">Enclava</span>
        <button class="secondary" onClick={toggleTheme} aria-label={`Switch to ${theme() === 'dark' ? 'light' : 'dark'} theme`}>
          {theme() === 'dark' ? 'Light' : 'Dark'}
        </button>
        <div class="menu" onFocusOut={(e) => !e.currentTarget.contains(e.relatedTarget as Node | null) && setMenuOpen(false)}>
          <button class="secondary" aria-haspopup="true" aria-expanded={menuOpen()} aria-controls="user-menu" onClick={() => setMenuOpen(!menuOpen())}>
            {user()?.username ?? 'Account'}
          </button>
          <Show when={menuOpen()}>
            <div class="menu-list" id="user-menu" onKeyDown={(e) => e.key === 'Escape' && setMenuOpen(false)}>
              <p>
                <span class="muted">Signed in as</span>
                <br />
                {user()?.email}
              </p>
              <button disabled={leaving()} onClick={() => void leave()}>
                Sign out
              </button>
            </div>
          </Show>
        </div>
      </header>
      <nav id="sidenav" class="sidenav" classList={{ open: navOpen() }} aria-label="Sections">
        <ul>
          <For each={SECTIONS}>
            {(s) => (
              <li>
                <A href={s.path} end={s.path === '/'} activeClass="active" onClick={() => setNavOpen(false)}
                  aria-current={location.pathname === s.path ? 'page' : undefined}>
                  {s.title}
                </A>
              </li>
            )}
          </For>
        </ul>
      </nav>
      <main>{props.children}</main>
    </div>
  )
}
