import { Elysia } from 'elysia'
import { guards } from '../auth/guards.ts'
import type { Services } from '../services.ts'
import { SettingsPatchBody, SettingsView } from './model.ts'
import { ENVIRONMENT_OF } from './service.ts'

/**
 * Platform settings (`/api-internal/v1/settings`, settings:manage): every setting that changes at run time, platform
 * and security alike, with the environment's defaults, what was changed, and what needs a restart instead.
 */
export function settingsRoutes(s: Services) {
  const view = () => ({
    settings: { ...s.settings.current, ...s.security.settings.current },
    defaults: { ...s.settings.defaults, ...s.security.settings.defaults },
    overridden: s.settings.overridden(),
    secrets: { smtp_password: s.settings.hasSmtpPassword() },
    restart_required: s.settings.restartRequired(),
    environment: ENVIRONMENT_OF,
    updated_at: latest(s.settings.updatedAt, s.security.settings.updatedAt),
  })
  return new Elysia({ prefix: '/api-internal/v1/settings', tags: ['settings'] })
    .use(guards(s.guardDeps))
    .get('/', view, {
      permission: 'settings:manage',
      response: SettingsView,
      detail: { summary: 'Every runtime setting (platform and security) with the environment defaults and the settings that need a restart' },
    })
    .patch(
      '/',
      async ({ body, user, meta }) => {
        await s.settings.update(body, user, meta)
        return view()
      },
      {
        permission: 'settings:manage',
        body: SettingsPatchBody,
        response: SettingsView,
        detail: {
          summary: 'Change settings on every replica within a second (audited with before and after values)',
          description:
            'Send only the settings to change. Each is validated and a bad one is a 400 naming it; a setting that can only ' +
            'change in the environment (DATABASE_URL, UPLOAD_MAX_REQUEST_MB, ...) is a 400 saying to set it there and restart.',
        },
      },
    )
}

function latest(a: Date | null, b: Date | null): Date | null {
  if (!a) return b
  if (!b) return a
  return a > b ? a : b
}
