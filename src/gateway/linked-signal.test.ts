import { expect, test } from 'bun:test'
import { linkedSignal } from './linked-signal.ts'

test('follows the outer signal, with its reason', () => {
  const outer = new AbortController()
  const linked = linkedSignal(outer.signal, 10_000, 'slow')
  outer.abort('client gone')
  expect(linked.signal.aborted).toBe(true)
  expect(linked.signal.reason).toBe('client gone')
  expect(linked.timedOut).toBe(false)
  linked.release()
})

test('an outer signal that is already aborted aborts it at once', () => {
  const outer = new AbortController()
  outer.abort()
  expect(linkedSignal(outer.signal, 10_000, 'slow').signal.aborted).toBe(true)
})

test('the timer aborts it with a TimeoutError and says so', async () => {
  const linked = linkedSignal(new AbortController().signal, 5, 'too slow')
  await Bun.sleep(30)
  expect(linked.timedOut).toBe(true)
  expect((linked.signal.reason as DOMException).name).toBe('TimeoutError')
  expect((linked.signal.reason as DOMException).message).toBe('too slow')
})

test('stopTimer keeps following the outer signal; release follows nothing', async () => {
  const outer = new AbortController()
  const stopped = linkedSignal(outer.signal, 5, 'slow')
  stopped.stopTimer()
  const released = linkedSignal(outer.signal, 5, 'slow')
  released.release()
  await Bun.sleep(30)
  expect(stopped.signal.aborted).toBe(false)
  expect(released.signal.aborted).toBe(false)
  outer.abort()
  expect(stopped.signal.aborted).toBe(true)
  expect(released.signal.aborted).toBe(false)
})

test('abort() aborts it without touching the outer signal', () => {
  const outer = new AbortController()
  const linked = linkedSignal(outer.signal, 10_000, 'slow')
  linked.abort()
  expect(linked.signal.aborted).toBe(true)
  expect(outer.signal.aborted).toBe(false)
  linked.release()
})
