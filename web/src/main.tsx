import { lazy, type Component } from 'solid-js'
import { render } from 'solid-js/web'
import { Route, Router } from '@solidjs/router'
import { Guard } from './Guard.tsx'
import { Shell } from './Shell.tsx'
import { SignIn } from './pages/SignIn.tsx'
import { ChangePassword } from './pages/ChangePassword.tsx'
import { SignOut } from './pages/SignOut.tsx'
import { Overview } from './pages/Overview.tsx'
import { NotFound } from './pages/NotFound.tsx'
import { restore } from './session.ts'
import './styles.css'

void restore()

/** Each section's page, loaded when first visited: the overview does not wait for the others' code. */
const PAGES: [path: string, page: Component][] = [
  ['/api-keys', lazy(() => import('./pages/ApiKeys.tsx'))],
  ['/budgets', lazy(() => import('./pages/Budgets.tsx'))],
  ['/playground', lazy(() => import('./pages/Playground.tsx'))],
  ['/providers', lazy(() => import('./pages/Providers.tsx'))],
  ['/chatbots', lazy(() => import('./pages/Chatbots.tsx'))],
  ['/documents', lazy(() => import('./pages/Documents.tsx'))],
  ['/plugins', lazy(() => import('./pages/Plugins.tsx'))],
  ['/mcp-servers', lazy(() => import('./pages/McpServers.tsx'))],
  ['/agents', lazy(() => import('./pages/Agents.tsx'))],
  ['/prompts', lazy(() => import('./pages/Prompts.tsx'))],
  ['/analytics', lazy(() => import('./pages/Analytics.tsx'))],
  ['/audit-log', lazy(() => import('./pages/AuditLog.tsx'))],
  ['/security', lazy(() => import('./pages/Security.tsx'))],
  ['/users', lazy(() => import('./pages/Users.tsx'))],
  ['/settings', lazy(() => import('./pages/Settings.tsx'))],
  ['/admin', lazy(() => import('./pages/Administration.tsx'))],
  ['/notifications', lazy(() => import('./pages/Notifications.tsx'))],
]

const root = document.getElementById('app')
if (!root) throw new Error('#app is missing from index.html')

render(
  () => (
    <Router>
      <Route path="/sign-in" component={SignIn} />
      <Route path="/sign-out" component={SignOut} />
      <Route path="/" component={Guard}>
        <Route path="/change-password" component={ChangePassword} />
        <Route path="/" component={Shell}>
          <Route path="/" component={Overview} />
          {PAGES.map(([path, page]) => (
            <>
              <Route path={path} component={page} />
              <Route path={`${path}/:id`} component={page} />
            </>
          ))}
          <Route path="*" component={NotFound} />
        </Route>
      </Route>
    </Router>
  ),
  root,
)
