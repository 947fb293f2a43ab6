import { describe, expect, test } from 'bun:test'
import { helpText, parseCommand, UsageError } from './cli.ts'
import { ConfigSchema } from './config.ts'

describe('parseCommand', () => {
  test.each([
    [[], 'serve'],
    [['serve'], 'serve'],
    [['migrate'], 'migrate'],
    [['healthcheck'], 'healthcheck'],
    [['--help'], 'help'],
    [['-h'], 'help'],
    [['--version'], 'version'],
    [['-v'], 'version'],
  ] as [string[], string][])('%j is %s', (args, command) => {
    expect(parseCommand(args)).toBe(command as ReturnType<typeof parseCommand>)
  })

  test.each([
    [['start'], 'unknown command "start"'],
    [['toString'], 'unknown command "toString"'],
    [['--port=80'], 'unknown command "--port=80"'],
    [['migrate', '--force'], 'migrate takes no arguments'],
  ] as [string[], string][])('%j is refused: %s', (args, message) => {
    expect(() => parseCommand(args)).toThrow(UsageError)
    expect(() => parseCommand(args)).toThrow(message)
  })
})

test('--help lists every setting with its default or what unset means, and its description', () => {
  const help = helpText()
  for (const [name, schema] of Object.entries(ConfigSchema.properties)) {
    const line = help.split('\n').findIndex((l) => l.startsWith(`  ${name}  (`))
    expect({ name, listed: line >= 0 }).toEqual({ name, listed: true })
    expect(help.split('\n')[line + 1]?.trim()).toBe(schema.description)
  }
  expect(help).toContain('  PORT  (default 3000)\n      HTTP port (0: any free port)')
  expect(help).toContain('  DATABASE_URL  (unset: embedded PGlite in DATA_DIR)')
  expect(help).toContain('  PROVIDERS  (default [])')
})
