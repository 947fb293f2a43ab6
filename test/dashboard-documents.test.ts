/**
 * The Documents page in Chromium against a real server: collections created through the form (lexical-only and
 * with the mock embedding model), many files uploaded at once with an unsupported one refused by name, live
 * indexing status, a document's chunks, the search tester, confirmed deletes, and a 375 px screen.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ConsoleMessage, Page } from 'playwright-core'
import { startDashboard, type Dashboard } from './dashboard-fixture.ts'
import { killLeftovers } from './server-process.ts'

const R = '/api-internal/v1/rag'

let d: Dashboard
let files: string

afterAll(killLeftovers)
beforeAll(async () => {
  d = await startDashboard()
  files = mkdtempSync(join(tmpdir(), 'enclava-docs-'))
  writeFileSync(
    join(files, 'lighthouse.md'),
    '# Coastal guide\n\nThe old lighthouse stands on the northern cliff.\n\n## Visiting\n\nTours start at ten every morning from the harbour.\n',
  )
  writeFileSync(join(files, 'airship.txt'), 'Notes on the zeppelin hangar.\n\nThe hangar was built in 1912 and still stands.\n')
  writeFileSync(join(files, 'copy-of-lighthouse.md'), readFileSync(join(files, 'lighthouse.md')))
  writeFileSync(join(files, 'empty.txt'), '')
  writeFileSync(join(files, 'setup.exe'), 'MZ not really a program')
  writeFileSync(join(files, 'meaning.md'), '# Semantics\n\nEmbeddings place similar meanings close together.\n')
})
afterAll(async () => {
  await d?.close()
})

async function createCollection(page: Page, name: string, model: string | null) {
  await page.goto(`${d.base}/documents`)
  await page.getByRole('button', { name: 'New collection' }).click()
  await page.getByLabel('Name').fill(name)
  await page.getByLabel('Description').fill(`${name} for the dashboard test`)
  const select = page.getByLabel('Embedding model')
  await select.locator('option', { hasText: 'mock-embed' }).waitFor({ state: 'attached' })
  if (model) await select.selectOption(model)
  await page.getByRole('button', { name: 'Create collection' }).click()
  await page.getByRole('link', { name }).waitFor()
}

const row = (page: Page, filename: string) => page.getByRole('row').filter({ has: page.getByRole('link', { name: `Details of ${filename}` }) })

async function collectionByName(name: string) {
  const list = await d.call('GET', `${R}/collections`, { token: await d.adminToken() })
  expect(list.status).toBe(200)
  return list.body.data.find((c: { name: string }) => c.name === name)
}

describe('documents page', () => {
  test('lexical collection: create, upload many (one refused), live indexing, chunks, search, delete', async () => {
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page)
      await page.goto(`${d.base}/documents`)
      await page.getByText('No collections yet').waitFor()
      await d.screenshot(page, 'documents-empty')

      await createCollection(page, 'Handbook', null)
      const listed = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'Handbook' }) })
      await listed.getByText('lexical only').waitFor()
      await d.screenshot(page, 'documents-list')
      const created = await collectionByName('Handbook')
      expect(created).toMatchObject({ embedding_model: null, chunk_tokens: 300, chunk_overlap: 50, description: 'Handbook for the dashboard test' })

      await page.getByRole('link', { name: 'Handbook' }).click()
      await page.getByRole('heading', { name: 'Handbook', level: 1 }).waitFor()
      await page.getByText('lexical only (no embedding model)').waitFor()
      await page.getByText('No documents yet').waitFor()
      await page.getByLabel('Add files').setInputFiles([join(files, 'lighthouse.md'), join(files, 'airship.txt'), join(files, 'setup.exe')])

      // The unsupported file is refused next to its name; the other two are uploaded and indexed live.
      const uploads = page.getByRole('list', { name: 'Uploads' })
      await uploads.getByRole('listitem').filter({ hasText: 'setup.exe' }).getByText('setup.exe: this file type is not supported').waitFor()
      await row(page, 'lighthouse.md').getByText('indexed', { exact: true }).waitFor()
      await row(page, 'airship.txt').getByText('indexed', { exact: true }).waitFor()
      await expect(page.getByRole('link', { name: /Details of setup\.exe/ }).count()).resolves.toBe(0)
      await page.getByTestId('collection-facts').getByText(/^2 documents, \d+ chunks/).waitFor()
      await d.screenshot(page, 'documents-uploaded')
      const docs = await d.call('GET', `${R}/collections/${created.id}/documents`, { token: await d.adminToken() })
      expect(docs.body.data.map((x: { filename: string; status: string }) => [x.filename, x.status]).sort()).toEqual([
        ['airship.txt', 'indexed'],
        ['lighthouse.md', 'indexed'],
      ])

      // The same content again and an empty file are refused by name before anything is sent.
      await page.getByLabel('Add files').setInputFiles([join(files, 'copy-of-lighthouse.md'), join(files, 'empty.txt')])
      await uploads.getByText('copy-of-lighthouse.md: the same content is already in this collection as "lighthouse.md"').waitFor()
      await uploads.getByText('empty.txt: the file is empty').waitFor()
      await d.screenshot(page, 'documents-refusals')

      // Download: the original bytes, under the original name.
      const downloading = page.waitForEvent('download')
      await row(page, 'airship.txt').getByRole('button', { name: 'Download airship.txt' }).click()
      const file = await downloading
      expect(file.suggestedFilename()).toBe('airship.txt')
      expect(readFileSync((await file.path()) ?? '', 'utf8')).toBe(readFileSync(join(files, 'airship.txt'), 'utf8'))

      // A document's details: its chunks with their section.
      await page.getByRole('link', { name: 'Details of lighthouse.md' }).click()
      const chunks = page.getByRole('list', { name: 'Chunks of lighthouse.md' })
      await chunks.getByText('The old lighthouse stands on the northern cliff.', { exact: false }).waitFor()
      await expect(chunks.getByText(/section “Coastal guide”/).count()).resolves.toBeGreaterThan(0)
      await d.screenshot(page, 'documents-details')

      // Search for a word only one file has: that file first, the word in its snippet.
      await page.getByLabel('Query').fill('zeppelin')
      await expect(page.getByLabel('Mode').locator('option').allTextContents()).resolves.toEqual(['lexical'])
      await page.getByRole('button', { name: 'Search', exact: true }).click()
      const first = page.getByRole('list', { name: 'Search results' }).getByRole('listitem').first()
      await first.getByRole('link', { name: 'airship.txt' }).waitFor()
      await expect(first.locator('mark').first().textContent()).resolves.toBe('zeppelin')
      await first.getByText(/lexical [\d.]+ \(rank 1\)/).waitFor()
      await d.screenshot(page, 'documents-search')

      // Delete one document, confirmed in a dialog.
      await row(page, 'airship.txt').getByRole('button', { name: 'Delete' }).click()
      // Closed dialogs are not in the accessibility tree: the one found is the open one.
      const dialog = page.getByRole('dialog').filter({ hasText: 'Delete "airship.txt"?' })
      await dialog.waitFor()
      await d.screenshot(page, 'documents-delete-confirm')
      await dialog.getByRole('button', { name: 'Delete document' }).click()
      await row(page, 'airship.txt').waitFor({ state: 'detached' })
      await page.getByTestId('collection-facts').getByText(/^1 document,/).waitFor()
      const after = await d.call('GET', `${R}/collections/${created.id}/documents`, { token: await d.adminToken() })
      expect(after.body.data.map((x: { filename: string }) => x.filename)).toEqual(['lighthouse.md'])

      // Reprocess: indexed again (a newer indexing time), shown live.
      const before = (await d.call('GET', `${R}/documents/${docs.body.data.find((x: { filename: string }) => x.filename === 'lighthouse.md').id}`, { token: await d.adminToken() })).body
      await row(page, 'lighthouse.md').getByRole('button', { name: 'Reprocess lighthouse.md' }).click()
      const end = Date.now() + 15_000
      for (;;) {
        const now = (await d.call('GET', `${R}/documents/${before.id}`, { token: await d.adminToken() })).body
        if (now.status === 'indexed' && now.indexed_at !== before.indexed_at) break
        if (Date.now() > end) throw new Error(`not indexed again: ${JSON.stringify(now)}`)
        await Bun.sleep(50)
      }
      await row(page, 'lighthouse.md').getByText('indexed', { exact: true }).waitFor()

      // Dark theme, same state.
      await page.emulateMedia({ colorScheme: 'dark' })
      await d.screenshot(page, 'documents-detail-dark')
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test('collection with the mock embedding model: indexed, hybrid search with every ranker, deleted with confirmation', async () => {
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page)
      await createCollection(page, 'Semantic', 'mock-embed')
      const listed = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'Semantic' }) })
      await listed.getByText('mock-embed').waitFor()
      expect(await collectionByName('Semantic')).toMatchObject({ embedding_model: 'mock-embed' })

      await page.getByRole('link', { name: 'Semantic' }).click()
      await page.getByText('hybrid (embedding model mock-embed)').waitFor()
      // Dropped onto the drop zone this time, as a file dragged from the desktop would be.
      // A string, since the test's own types know no DOM; the file's text goes in as a JSON literal.
      const text = JSON.stringify(readFileSync(join(files, 'meaning.md'), 'utf8'))
      const dropped = await page.evaluateHandle(
        `(() => { const t = new DataTransfer(); t.items.add(new File([${text}], 'meaning.md', { type: 'text/markdown' })); return t })()`,
      )
      await page.getByText('Drop files here').dispatchEvent('drop', { dataTransfer: dropped })
      await row(page, 'meaning.md').getByText('indexed', { exact: true }).waitFor()

      await expect(page.getByLabel('Mode').locator('option').allTextContents()).resolves.toEqual(['hybrid', 'lexical', 'vector'])
      await page.getByLabel('Query').fill('embeddings')
      await page.getByRole('button', { name: 'Search', exact: true }).click()
      const first = page.getByRole('list', { name: 'Search results' }).getByRole('listitem').first()
      await first.getByRole('link', { name: 'meaning.md' }).waitFor()
      await page.getByText(/hybrid search/).waitFor()
      await first.getByText(/vector [-\d.e]+ \(rank 1\)/).waitFor()
      await first.getByText(/fused [\d.]+/).waitFor()
      await d.screenshot(page, 'documents-hybrid-search')

      // Delete the whole collection from its page.
      await page.getByRole('button', { name: 'Delete collection' }).click()
      await page.getByRole('dialog').filter({ hasText: 'Delete the collection "Semantic"?' }).getByRole('button', { name: 'Delete collection' }).click()
      await page.waitForURL(`${d.base}/documents`)
      await page.getByRole('link', { name: 'Semantic' }).waitFor({ state: 'detached' })
      expect(await collectionByName('Semantic')).toBeUndefined()
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test('without the event stream the documents table polls and still reaches indexed', async () => {
    const { page, context, errors } = await d.page()
    try {
      // The stream answers and ends at once, as a proxy that cuts long responses would.
      await page.route('**/api-internal/v1/rag/collections/*/events', (route) => route.fulfill({ status: 200, contentType: 'text/event-stream', body: ': open\n\n' }))
      await d.signIn(page)
      await page.goto(`${d.base}/documents`)
      await page.getByRole('link', { name: 'Handbook' }).click()
      await page.getByText('checking every few seconds (live updates unavailable)').waitFor()
      await page.getByLabel('Add files').setInputFiles([join(files, 'airship.txt')])
      await row(page, 'airship.txt').getByText('indexed', { exact: true }).waitFor()
      await d.screenshot(page, 'documents-polling')
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test('fits a 375 px wide screen: the list, the form and a collection', async () => {
    // The one deliberate failure: the form's refused chunking (400 from the create request).
    const refusedCreate = (m: ConsoleMessage) => m.text().includes('400') && m.location().url.endsWith(`${R}/collections`)
    const { page, context, errors } = await d.page({ width: 375, height: 740, expected: refusedCreate })
    try {
      await d.signIn(page)
      await page.goto(`${d.base}/documents`)
      await page.getByRole('link', { name: 'Handbook' }).waitFor()
      const overflow = () => page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
      expect(await overflow()).toBeLessThanOrEqual(0)
      await d.screenshot(page, 'documents-list-375')
      await page.getByRole('button', { name: 'New collection' }).click()
      await page.getByLabel('Chunk size (tokens)').waitFor()
      expect(await overflow()).toBeLessThanOrEqual(0)
      await page.getByLabel('Name').fill('Too much overlap')
      await page.getByLabel('Chunk overlap (tokens)').fill('200')
      await page.getByRole('button', { name: 'Create collection' }).click()
      await page.getByRole('alert').getByText('chunk_overlap must be less than half of chunk_tokens').waitFor()
      await expect(page.getByLabel('Chunk overlap (tokens)').getAttribute('aria-invalid')).resolves.toBe('true')
      expect(await overflow()).toBeLessThanOrEqual(0)
      await d.screenshot(page, 'documents-create-375')
      expect(await collectionByName('Too much overlap')).toBeUndefined()
      await page.getByRole('button', { name: 'Cancel' }).click()

      await page.getByRole('link', { name: 'Handbook' }).click()
      await row(page, 'lighthouse.md').getByText('indexed', { exact: true }).waitFor()
      await page.getByRole('link', { name: 'Details of lighthouse.md' }).click()
      await page.getByRole('list', { name: 'Chunks of lighthouse.md' }).waitFor()
      expect(await overflow()).toBeLessThanOrEqual(0)
      await d.screenshot(page, 'documents-detail-375')

      // Deleted elsewhere (the API, another tab): the row goes without a reload.
      await row(page, 'lighthouse.md').waitFor()
      const handbook = await collectionByName('Handbook')
      const listed = await d.call('GET', `${R}/collections/${handbook.id}/documents`, { token: await d.adminToken() })
      const lighthouse = listed.body.data.find((x: { filename: string }) => x.filename === 'lighthouse.md')
      expect((await d.call('DELETE', `${R}/documents/${lighthouse.id}`, { token: await d.adminToken() })).status).toBeLessThan(300)
      await row(page, 'lighthouse.md').waitFor({ state: 'detached' })
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })
})
