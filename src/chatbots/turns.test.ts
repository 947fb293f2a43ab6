/** TurnQueue: one turn at a time per conversation, in arrival order; a caller that gives up frees its place. */
import { describe, expect, test } from 'bun:test'
import { TurnQueue } from './turns.ts'

const never = new AbortController().signal

describe('TurnQueue', () => {
  test('turns of one conversation run one after the other, in arrival order; other conversations do not wait', async () => {
    const turns = new TurnQueue()
    const log: string[] = []
    const turn = async (key: string, name: string, ms: number) => {
      const release = await turns.acquire(key, never)
      log.push(`${name} start`)
      await Bun.sleep(ms)
      log.push(`${name} end`)
      release()
    }
    await Promise.all([turn('a', 'a1', 30), turn('a', 'a2', 10), turn('b', 'b1', 5), turn('a', 'a3', 1)])
    expect(log.filter((l) => l.startsWith('a'))).toEqual(['a1 start', 'a1 end', 'a2 start', 'a2 end', 'a3 start', 'a3 end'])
    expect(log.indexOf('b1 end')).toBeLessThan(log.indexOf('a1 end'))
    expect(turns.size).toBe(0)
  })

  test('a waiting caller that aborts gets an error and the turn behind it goes next', async () => {
    const turns = new TurnQueue()
    const first = await turns.acquire('c', never)
    const gone = new AbortController()
    const second = turns.acquire('c', gone.signal)
    let thirdStarted = false
    const third = turns.acquire('c', never).then((release) => {
      thirdStarted = true
      return release
    })
    gone.abort()
    expect(await second.catch((e: unknown) => e)).toMatchObject({ code: 'upstream_error' })
    await Bun.sleep(5)
    expect(thirdStarted).toBe(false)
    first()
    ;(await third)()
    expect(thirdStarted).toBe(true)
    expect(turns.size).toBe(0)
  })

  test('releasing twice is harmless', async () => {
    const turns = new TurnQueue()
    const release = await turns.acquire('d', never)
    release()
    release()
    const again = await turns.acquire('d', never)
    again()
    expect(turns.size).toBe(0)
  })
})
