import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AppendJournal, journalLines, MappedJournal } from './journal.ts'

const dir = mkdtempSync(join(tmpdir(), 'enclava-journal-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string) => join(dir, name)
const line = (i: number, pad = 0) => `${JSON.stringify({ i, text: 'é'.repeat(pad) })}\n`
const read = (path: string) => journalLines(readFileSync(path, 'utf8')).map((l) => (JSON.parse(l) as { i: number }).i)

test('a mapped journal holds its lines in the file at once, the zero-filled rest ignored', () => {
  const path = file('mapped.jsonl')
  const j = new MappedJournal(path)
  for (let i = 0; i < 3; i++) j.append(line(i))
  expect(read(path)).toEqual([0, 1, 2])
  j.close(true)
})

test('lines survive a process killed right after appending them', async () => {
  const path = file('killed.jsonl')
  const script = `
    const { MappedJournal } = await import(${JSON.stringify(join(import.meta.dir, 'journal.ts'))})
    const j = new MappedJournal(${JSON.stringify(path)})
    for (let i = 0; i < 5; i++) j.append(JSON.stringify({ i }) + '\\n')
    process.kill(process.pid, 'SIGKILL')`
  const proc = Bun.spawn([process.execPath, '-e', script], { stdout: 'ignore', stderr: 'inherit' })
  await proc.exited
  expect(proc.signalCode).toBe('SIGKILL')
  expect(read(path)).toEqual([0, 1, 2, 3, 4])
})

test('a full journal grows; lines written before and after are all there', () => {
  const path = file('grown.jsonl')
  const j = new MappedJournal(path)
  const before = statSync(path).size
  // ~2 KB lines (multi-byte characters): well past the first megabyte.
  for (let i = 0; i < 1200; i++) j.append(line(i, 1000))
  expect(statSync(path).size).toBeGreaterThan(before)
  expect(read(path)).toEqual(Array.from({ length: 1200 }, (_, i) => i))
  j.close(true)
})

test('reset starts over: only what follows is read', () => {
  const path = file('reset.jsonl')
  const j = new MappedJournal(path)
  for (let i = 0; i < 3; i++) j.append(line(i, 50))
  j.reset()
  j.append(line(7))
  expect(read(path)).toEqual([7])
  j.close(true)
})

test('durable: the file is cut to its lines and appended to as an ordinary file from then on', () => {
  const path = file('durable.jsonl')
  const j = new MappedJournal(path).durable()
  expect(j.mapped).toBe(false)
  expect(readFileSync(path, 'utf8')).toBe('')
  const k = new MappedJournal(file('durable2.jsonl'))
  k.append(line(1))
  const appended = k.durable()
  expect(readFileSync(file('durable2.jsonl'), 'utf8')).toBe(line(1))
  appended.append(line(2))
  expect(readFileSync(file('durable2.jsonl'), 'utf8')).toBe(line(1) + line(2))
  appended.close(false)
  j.close(true)
})

test('a mapped journal opened on a file of lines keeps them and appends after them', () => {
  const path = file('reopened.jsonl')
  const a = new AppendJournal(path)
  a.append(line(1))
  a.close(false)
  const m = new MappedJournal(path)
  m.append(line(2))
  expect(read(path)).toEqual([1, 2])
  m.close(false)
  expect(readFileSync(path, 'utf8')).toBe(line(1) + line(2))
})

test('journalLines: a line cut short before the zeros is still returned, for the reader to refuse', () => {
  expect(journalLines('{"i":1}\n{"i":2\0\0\0')).toEqual(['{"i":1}', '{"i":2'])
  expect(journalLines('{"i":1}\n\n')).toEqual(['{"i":1}'])
  expect(journalLines('\0\0{"i":1}\n')).toEqual([])
})
