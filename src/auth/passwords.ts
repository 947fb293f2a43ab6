import { randomBytes } from 'node:crypto'
import { ApiError } from '../http/errors.ts'

const ALGORITHM = { algorithm: 'argon2id', memoryCost: 19456, timeCost: 2 } as const

export const hashPassword = (password: string) => Bun.password.hash(password, ALGORITHM)
export const verifyPassword = (password: string, hash: string) => Bun.password.verify(password, hash)

/** Verifying against this keeps the response time of an unknown email equal to that of a wrong password. */
let dummyHash: Promise<string> | undefined
export async function burnVerifyTime(password: string): Promise<void> {
  dummyHash ??= hashPassword(randomBytes(16).toString('hex'))
  await verifyPassword(password, await dummyHash)
}

export const MIN_PASSWORD_LENGTH = 12

/** Length is what matters (NIST 800-63B); composition rules only push people to predictable patterns. */
export function assertPasswordPolicy(password: string, field: string, identity: { email: string; username: string }) {
  if (password.length < MIN_PASSWORD_LENGTH)
    throw new ApiError('validation_failed', `${field} must be at least ${MIN_PASSWORD_LENGTH} characters`, field)
  const lower = password.toLowerCase()
  if (lower === identity.email.toLowerCase() || lower === identity.username.toLowerCase())
    throw new ApiError('validation_failed', `${field} must not be the email or username`, field)
}

/** 24 base64url characters (144 bits) for generated admin and reset passwords. */
export const generatePassword = () => randomBytes(18).toString('base64url')
