import { createHash, randomBytes } from 'node:crypto'
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose'

export interface AccessClaims {
  /** user id */
  sub: string
  /** session id: revoking the session ends this token at once */
  sid: string
}

const ISSUER = 'enclava'
const AUDIENCE = 'enclava-internal'

/** Short-lived HS256 access tokens. They carry identity only; role and active state are read fresh per request. */
export class AccessTokens {
  readonly #key: Uint8Array
  readonly ttlSeconds: number
  constructor(secret: string, ttlSeconds: number) {
    this.#key = new TextEncoder().encode(secret)
    this.ttlSeconds = ttlSeconds
  }

  sign(claims: AccessClaims): Promise<string> {
    return new SignJWT({ sid: claims.sid, typ: 'access' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(claims.sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.#key)
  }

  /** null for anything but a valid, unexpired access token of ours. */
  async verify(token: string): Promise<AccessClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['HS256'],
      })
      if (payload.typ !== 'access' || typeof payload.sub !== 'string' || typeof payload.sid !== 'string') return null
      return { sub: payload.sub, sid: payload.sid }
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return null
      throw err
    }
  }
}

/** Refresh tokens are opaque random strings; only their SHA-256 is stored. */
export const newRefreshToken = () => `rt_${randomBytes(32).toString('base64url')}`
export const sha256Hex = (value: string) => createHash('sha256').update(value).digest('hex')
