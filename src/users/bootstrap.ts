import type { Logger } from '../log.ts'
import type { UserService } from './service.ts'

/**
 * First start: create the super-admin. Without ADMIN_PASSWORD a password is generated, printed once and must be
 * changed at first sign-in. Replicas starting together race on the unique email; the loser finds it exists.
 */
export async function ensureAdmin(
  users: UserService,
  log: Logger,
  opts: { email: string; password?: string | undefined },
): Promise<void> {
  if ((await users.count()) > 0) return
  try {
    const { user, generatedPassword } = await users.create({
      email: opts.email,
      username: 'admin',
      password: opts.password,
      role: 'super_admin',
      force_password_change: opts.password === undefined,
    })
    if (generatedPassword)
      log.warn(
        { admin_email: user.email },
        `created super-admin ${user.email} with generated password: ${generatedPassword} (shown once; change it at first sign-in)`,
      )
    else log.info({ admin_email: user.email }, 'created super-admin from ADMIN_EMAIL/ADMIN_PASSWORD')
  } catch (err) {
    if ((err as { code?: string }).code === 'conflict' && (await users.count()) > 0) return
    throw err
  }
}
