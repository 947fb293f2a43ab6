/**
 * web_fetch reads what a remote host answered on the preparation threads: HTML reduced to text, PDF pages
 * extracted, text as it is, anything else refused with a reason the model reads; and the server thread keeps
 * turning while a large page is parsed (a class: a remote host's or a client's bytes parsed on the server thread).
 * Agents' own test (src/agents/agents.test.ts) covers the network guard through a whole run.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { ApiError } from '../../http/errors.ts'
import { handmadePdf } from '../../rag/extract/testing.ts'
import { PreparePool } from '../../rag/prepare-pool.ts'
import type { Caller } from '../../gateway/service.ts'
import type { Tool } from '../types.ts'
import { webFetchTools } from './web-fetch.ts'
import { loopTurnsWhile } from '../../../test/loop-turns.ts'

const pages = new Map<string, { type: string; body: string | Uint8Array }>()
const site = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  fetch(req) {
    const page = pages.get(new URL(req.url).pathname)
    return page ? new Response(page.body, { headers: { 'content-type': page.type } }) : new Response('no such page', { status: 404 })
  },
})
const pool = new PreparePool(1)
afterAll(() => void site.stop(true))

async function fetchTool(): Promise<Tool> {
  const [tool] = await webFetchTools(pool).tools({ type: 'web_fetch', hosts: [`127.0.0.1:${site.port}`], max_bytes: 10 * 1024 * 1024 }, {} as Caller)
  return tool!
}
const fetchPage = async (path: string) => (await fetchTool()).execute({ url: `http://127.0.0.1:${site.port}${path}` }, { caller: {} as Caller, signal: new AbortController().signal })

describe('web_fetch', () => {
  test('HTML is read as text with its title and headings, a PDF by page, text as it is', async () => {
    pages.set('/menu', { type: 'text/html; charset=utf-8', body: '<html><title>Menu</title><body><h1>Today</h1><p>Soup: tomato.</p><script>alert(1)</script></body></html>' })
    pages.set('/report', { type: 'application/pdf', body: handmadePdf(['First page words', 'Second page words']) })
    pages.set('/notes', { type: 'text/plain', body: 'plain <b>notes</b>' })
    const menu = await fetchPage('/menu')
    expect(menu.isError).toBe(false)
    expect(menu.content).toContain('# Menu')
    expect(menu.content).toContain('Soup: tomato.')
    expect(menu.content).not.toContain('alert(1)')
    const report = await fetchPage('/report')
    expect(report.content).toContain('[page 1] First page words')
    expect(report.content).toContain('[page 2] Second page words')
    expect((await fetchPage('/notes')).content).toEndWith('plain <b>notes</b>')
  })

  test('a body that is neither text, HTML nor PDF, or a PDF that cannot be read, is refused with the reason', async () => {
    pages.set('/photo', { type: 'image/png', body: new Uint8Array([137, 80, 78, 71]) })
    pages.set('/broken', { type: 'application/pdf', body: '%PDF-1.7 this is not a PDF' })
    const url = (path: string) => `http://127.0.0.1:${site.port}${path}`
    const refused = (path: string) => fetchPage(path).then(
      () => null,
      (err: unknown) => err,
    )
    const photo = await refused('/photo')
    expect(photo).toBeInstanceOf(ApiError)
    expect((photo as ApiError).message).toBe(`${url('/photo')} answered with image/png, which is not text, HTML or PDF`)
    const broken = await refused('/broken')
    expect(broken).toBeInstanceOf(ApiError)
    expect((broken as ApiError).message).toStartWith(`${url('/broken')}: page.pdf`)
  })

  test('the server thread keeps turning while a large fetched page is parsed', async () => {
    // ~8 MB of nested HTML: on the server thread, parsing it held the loop for one long synchronous run.
    const row = (i: number) => `<div class="r"><h2>Section ${i}</h2><p>Paragraph ${i} with <a href="/x/${i}">a link</a> and <em>emphasis</em>.</p></div>`
    pages.set('/big', { type: 'text/html', body: `<html><title>Big</title><body>${Array.from({ length: 70_000 }, (_, i) => row(i)).join('')}</body></html>` })
    await fetchPage('/menu') // the thread started, so its start is not counted as the parse
    const { value: page, longestGap, turns, took } = await loopTurnsWhile(fetchPage('/big'))
    expect(page.content).toContain('## Section 69999')
    // A ratio within one run, not a time: the longest pause is a small part of the whole.
    expect(turns).toBeGreaterThan(10)
    expect(longestGap).toBeLessThan(took / 4)
  }, 60_000)
})
