/**
 * The container image and the stack, checked as far as this machine can (no container engine runs here): every
 * path the Dockerfile copies exists, the image runs the binary that `npm run build` makes (the one
 * test/binary.test.ts runs), and deploy/compose.yaml wires three replicas with the same secrets, health checks and
 * start order behind nginx, which knows all three.
 */
import { describe, expect, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './server-process.ts'

interface Stage {
  name: string | null
  lines: string[]
}

function stages(dockerfile: string): Stage[] {
  const out: Stage[] = []
  // Continuation lines joined, comments dropped.
  const lines = dockerfile.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  for (const line of lines) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line)
    if (from) out.push({ name: from[1] ?? null, lines: [] })
    else out.at(-1)?.lines.push(line)
  }
  return out
}

const instructions = (stage: Stage, name: string) => stage.lines.filter((l) => l.toUpperCase().startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim())
const execForm = (args: string) => JSON.parse(args) as string[]

describe('Dockerfile', () => {
  const [build, run] = stages(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))

  test('two stages: a build with Node and npm only, and a small run stage', () => {
    expect(build?.name).toBe('build')
    expect(run?.name).toBeNull()
    expect(instructions(build!, 'RUN')).toEqual(['npm run build'])
  })

  test('every path the build stage copies exists in the repository', () => {
    const copies = instructions(build!, 'COPY')
    expect(copies.length).toBeGreaterThan(0)
    for (const copy of copies) {
      const parts = copy.split(/\s+/)
      for (const source of parts.slice(0, -1)) expect({ source, exists: existsSync(join(ROOT, source)) }).toEqual({ source, exists: true })
    }
  })

  test('the image holds the binary npm run build makes, runs it as its entrypoint and health check, not as root', () => {
    const [copy] = instructions(run!, 'COPY')
    const match = /^--from=build\s+\/src\/(\S+)\s+(\S+)$/.exec(copy ?? '')
    expect(match).not.toBeNull()
    const [, built, installed] = match!
    // What `npm run build` writes, and test/binary.test.ts runs.
    expect(built).toBe('dist/enclava')
    expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.build).toBeString()
    expect(execForm(instructions(run!, 'ENTRYPOINT')[0]!)).toEqual([installed!])
    const health = instructions(run!, 'HEALTHCHECK')[0]!
    expect(execForm(health.slice(health.indexOf('CMD') + 3).trim())).toEqual([installed!, 'healthcheck'])
    expect(instructions(run!, 'USER')).toEqual(['enclava'])
    expect(instructions(run!, 'VOLUME')).toEqual(['/data'])
    expect(run!.lines.some((l) => l.includes('DATA_DIR=/data'))).toBe(true)
  })
})

describe('deploy/compose.yaml', () => {
  const compose = Bun.YAML.parse(readFileSync(join(ROOT, 'deploy/compose.yaml'), 'utf8')) as {
    services: Record<string, { image?: string; environment?: Record<string, string>; healthcheck?: { test: string[] }; depends_on?: Record<string, { condition: string }>; volumes?: string[] }>
  }
  const replicas = Object.entries(compose.services).filter(([name]) => /^enclava-\d$/.test(name))

  test('three replicas of one image, sharing their secrets and the files volume, each with its own /data', () => {
    expect(replicas.map(([name]) => name)).toEqual(['enclava-1', 'enclava-2', 'enclava-3'])
    const envs = replicas.map(([, s]) => s.environment!)
    for (const name of ['JWT_SECRET', 'ENCRYPTION_KEY', 'DATABASE_URL', 'REDIS_URL', 'QDRANT_URL', 'PRIVATEMODE_URL', 'FILE_STORAGE_DIR'])
      expect(new Set(envs.map((e) => e[name])).size).toBe(1)
    // Secrets come from the env file, and the stack refuses to start without them.
    expect(envs[0]!.JWT_SECRET).toStartWith('${JWT_SECRET:?')
    expect(envs[0]!.ENCRYPTION_KEY).toStartWith('${ENCRYPTION_KEY:?')
    const data = replicas.map(([, s]) => s.volumes!.find((v) => v.endsWith(':/data')))
    expect(new Set(data).size).toBe(3)
    for (const [, s] of replicas) expect(s.volumes).toContain('files:/shared/files')
  })

  test('health checks and start order: stores healthy before the replicas, replicas healthy before the load balancer', () => {
    for (const [, s] of replicas) {
      expect(s.healthcheck?.test).toEqual(['CMD', '/usr/local/bin/enclava', 'healthcheck'])
      expect(s.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } })
    }
    expect(compose.services.postgres?.healthcheck).toBeDefined()
    expect(compose.services.redis?.healthcheck).toBeDefined()
    expect(compose.services.postgres?.image).toStartWith('pgvector/pgvector:')
    expect(compose.services.lb?.depends_on).toEqual({
      'enclava-1': { condition: 'service_healthy' },
      'enclava-2': { condition: 'service_healthy' },
      'enclava-3': { condition: 'service_healthy' },
    })
    for (const name of ['qdrant', 'privatemode-proxy']) expect(compose.services[name]).toBeDefined()
  })

  test('nginx balances over the three replicas and passes streams through unbuffered', () => {
    const nginx = readFileSync(join(ROOT, 'deploy/nginx.conf'), 'utf8')
    for (const [name] of replicas) expect(nginx).toContain(`server ${name}:3000`)
    expect(nginx).toContain('proxy_buffering off')
  })
})
