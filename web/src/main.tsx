import { render } from 'solid-js/web'
import { Route, Router } from '@solidjs/router'
import { Guard } from './Guard.tsx'
import { Shell, SECTIONS } from './Shell.tsx'
import { SignIn } from './pages/SignIn.tsx'
import { ChangePassword } from './pages/ChangePassword.tsx'
import { SignOut } from './pages/SignOut.tsx'
import { Overview } from './pages/Overview.tsx'
import { NotBuilt } from './pages/NotBuilt.tsx'
import { NotFound } from './pages/NotFound.tsx'
import { restore } from './session.ts'
import './styles.css'

void restore()

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
          {SECTIONS.filter((s) => s.path !== '/').map((s) => (
            <Route path={s.path} component={() => <NotBuilt title={s.title} />} />
          ))}
          <Route path="*" component={NotFound} />
        </Route>
      </Route>
    </Router>
  ),
  root,
)
