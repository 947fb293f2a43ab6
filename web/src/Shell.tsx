import { createSignal, For, Show, type Component, type JSX, type ParentProps } from 'solid-js'
import { A, useLocation, useNavigate } from '@solidjs/router'
import type { LucideProps } from 'lucide-solid'
import {
  BarChart, Bell, Bot, ChevronDown, FileCode, FlaskConical, History, KeyRound, LayoutDashboard, Library, LogOut, Menu, Moon,
  Plug, Puzzle, Server, Settings, ShieldCheck, SlidersHorizontal, Sun, Users, Wallet, Workflow, X,
} from './icons.ts'
import { moduleEnabled, type ModuleName } from './modules.ts'
import { useMe } from './me.ts'
import { signOut, user } from './session.ts'
import { theme, toggleTheme } from './theme.ts'
import { Toaster } from './toast.tsx'

type Group = 'Build' | 'Access' | 'Insights' | 'Administration'

interface Section {
  path: string
  title: string
  /** Shown only to those holding it; absent: everyone. */
  permission?: string
  group?: Group
  icon?: Component<LucideProps>
  /** The platform module it belongs to: hidden while an administrator has the module disabled. */
  module?: ModuleName
}

/**
 * The dashboard's sections, in navigation order. A section whose permission the person lacks is not listed (its
 * page still answers with a notice when reached by its address). Sections added without a group go under
 * Administration, without an icon get a generic one.
 */
export const SECTIONS: Section[] = [
  { path: '/', title: 'Overview', icon: LayoutDashboard },
  { path: '/playground', title: 'Playground', permission: 'llm:use', group: 'Build', icon: FlaskConical, module: 'playground' },
  { path: '/chatbots', title: 'Chatbots', permission: 'chatbots:use', group: 'Build', icon: Bot, module: 'chatbots' },
  { path: '/agents', title: 'Agents', permission: 'agents:use', group: 'Build', icon: Workflow, module: 'agents' },
  { path: '/prompts', title: 'Prompts', permission: 'llm:use', group: 'Build', icon: FileCode },
  { path: '/documents', title: 'Documents', permission: 'rag:read', group: 'Build', icon: Library, module: 'rag' },
  { path: '/mcp-servers', title: 'MCP servers', permission: 'mcp:use', group: 'Build', icon: Plug },
  { path: '/api-keys', title: 'API keys', permission: 'api_keys:read', group: 'Access', icon: KeyRound },
  { path: '/budgets', title: 'Budgets', permission: 'api_keys:read', group: 'Access', icon: Wallet },
  { path: '/analytics', title: 'Analytics', group: 'Insights', icon: BarChart },
  { path: '/audit-log', title: 'Audit log', permission: 'audit:read', group: 'Insights', icon: History },
  { path: '/notifications', title: 'Notifications', group: 'Insights', icon: Bell },
  { path: '/providers', title: 'Providers', permission: 'providers:manage', group: 'Administration', icon: Server },
  { path: '/plugins', title: 'Plugins', permission: 'plugins:manage', group: 'Administration', icon: Puzzle, module: 'plugins' },
  { path: '/users', title: 'Users', permission: 'users:read', group: 'Administration', icon: Users },
  { path: '/security', title: 'Security', permission: 'audit:read', group: 'Administration', icon: ShieldCheck },
  { path: '/admin', title: 'Platform', permission: 'settings:manage', group: 'Administration', icon: SlidersHorizontal },
  { path: '/settings', title: 'Settings', group: 'Administration', icon: Settings },
]

const GROUPS: (Group | undefined)[] = [undefined, 'Build', 'Access', 'Insights', 'Administration']

/** The logo: an enclave (a rounded shield) around a spark. */
export function Logo(): JSX.Element {
  return (
    <svg viewBox="0 0 32 32" aria-hidden="true">
      <path d="M16 2.5 4.5 7v8.2c0 7 4.9 12.6 11.5 14.3 6.6-1.7 11.5-7.3 11.5-14.3V7L16 2.5Z" fill="var(--accent)" />
      <path d="M16 9.5l1.9 4.6 4.6 1.9-4.6 1.9L16 22.5l-1.9-4.6-4.6-1.9 4.6-1.9L16 9.5Z" fill="var(--accent-text)" />
    </svg>
  )
}

const initials = (name: string) => name.replace(/[^\p{L}\p{N}]+/gu, ' ').trim().split(' ').slice(0, 2).map((w) => w[0]?.toUpperCase() ?? '').join('') || '?'

export function Shell(props: ParentProps) {
  const navigate = useNavigate()
  const location = useLocation()
  const { can } = useMe()
  const [menuOpen, setMenuOpen] = createSignal(false)
  const [navOpen, setNavOpen] = createSignal(false)
  const [leaving, setLeaving] = createSignal(false)

  /** Before the permissions arrive only the sections everyone has are listed, so nothing appears and vanishes. */
  const visible = (s: Section) => (!s.permission || can(s.permission)) && (!s.module || moduleEnabled(s.module))
  const inGroup = (g: Group | undefined) =>
    SECTIONS.filter((s) => visible(s) && (g === undefined ? s.path === '/' : s.path !== '/' && (s.group ?? 'Administration') === g))

  async function leave() {
    setLeaving(true)
    await signOut()
    navigate('/sign-in', { replace: true })
  }

  return (
    <div class="shell">
      <header class="topbar">
        <button class="ghost icon nav-toggle" aria-label="Menu" aria-expanded={navOpen()} aria-controls="sidenav" onClick={() => setNavOpen(!navOpen())}>
          <Show when={navOpen()} fallback={<Menu />}><X /></Show>
        </button>
        <A href="/" class="brand" aria-label="Enclava, overview"><Logo /><span>Enclava</span></A>
        <button class="ghost icon" onClick={toggleTheme} aria-label={`Switch to ${theme() === 'dark' ? 'light' : 'dark'} theme`} title={`Switch to ${theme() === 'dark' ? 'light' : 'dark'} theme`}>
          <Show when={theme() === 'dark'} fallback={<Moon />}><Sun /></Show>
        </button>
        <div class="menu" onFocusOut={(e) => !e.currentTarget.contains(e.relatedTarget as Node | null) && setMenuOpen(false)}>
          <button class="ghost" aria-haspopup="true" aria-expanded={menuOpen()} aria-controls="user-menu" onClick={() => setMenuOpen(!menuOpen())}>
            <span class="avatar" aria-hidden="true">{initials(user()?.username ?? user()?.email ?? '')}</span>
            <span class="name">{user()?.username ?? 'Account'}</span>
            <ChevronDown />
          </button>
          <Show when={menuOpen()}>
            <div class="menu-list" id="user-menu" onKeyDown={(e) => e.key === 'Escape' && setMenuOpen(false)}>
              <p>
                <span class="muted small-text">Signed in as</span>
                <br />
                {user()?.email}
              </p>
              <A class="button ghost" href="/settings" onClick={() => setMenuOpen(false)}><Settings /> Settings</A>
              <hr />
              <button class="ghost" disabled={leaving()} onClick={() => void leave()}><LogOut /> Sign out</button>
            </div>
          </Show>
        </div>
      </header>
      <div class="scrim" classList={{ open: navOpen() }} onClick={() => setNavOpen(false)} aria-hidden="true" />
      <nav id="sidenav" class="sidenav" classList={{ open: navOpen() }} aria-label="Sections">
        <div class="sidenav-inner">
          <For each={GROUPS}>
            {(g) => (
              <Show when={inGroup(g).length > 0}>
                <Show when={g}><p class="nav-group" aria-hidden="true">{g}</p></Show>
                <ul>
                  <For each={inGroup(g)}>
                    {(s) => {
                      const Icon = s.icon ?? Settings
                      return (
                        <li>
                          <A href={s.path} end={s.path === '/'} activeClass="active" onClick={() => setNavOpen(false)}
                            aria-current={location.pathname === s.path ? 'page' : undefined}>
                            <Icon />
                            {s.title}
                          </A>
                        </li>
                      )
                    }}
                  </For>
                </ul>
              </Show>
            )}
          </For>
        </div>
      </nav>
      <main>{props.children}</main>
      <Toaster />
    </div>
  )
}
