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
  // A new collection opens on its own page, where its documents are uploaded.
  await page.getByRole('heading', { name, level: 1 }).waitFor()
  await page.waitForURL(/\/documents\/[0-9a-f-]{36}$/)
  await page.getByRole('link', { name: 'All collections' }).click()
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

      // A document's details: its chunks with their section, in a drawer opened where the person is: the page
      // does not jump to the top (it did, and the details opened below the fold).
      await page.evaluate('window.scrollTo(0, document.body.scrollHeight)')
      const scrolled = await page.evaluate<number>('window.scrollY')
      expect(scrolled).toBeGreaterThan(0)
      await page.getByRole('link', { name: 'Details of lighthouse.md' }).click()
      const drawer = page.getByTestId('document-drawer')
      const chunks = drawer.getByRole('list', { name: 'Chunks of lighthouse.md' })
      await chunks.getByText('The old lighthouse stands on the northern cliff.', { exact: false }).waitFor()
      await expect(chunks.getByText(/section “Coastal guide”/).count()).resolves.toBeGreaterThan(0)
      expect(await page.evaluate<number>('window.scrollY')).toBe(scrolled)
      // In view: the drawer's heading is inside the viewport.
      const box = await drawer.getByRole('heading').first().boundingBox()
      expect(box && box.y >= 0 && box.y < 860).toBe(true)
      await d.screenshot(page, 'documents-details')
      await drawer.getByRole('button', { name: 'Close details' }).click()
      await drawer.waitFor({ state: 'hidden' })
      await page.waitForURL((url) => !url.search.includes('doc='))

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

      // The search options: documents, metadata, weights, fusion constant and threshold reach the API as set.
      await page.getByText('More options').click()
      await page.getByLabel('Metadata filter').fill('not a pair')
      await page.getByRole('button', { name: 'Search', exact: true }).click()
      await page.locator('#search-metadata-error').getByText(/one key=value per line/).waitFor()
      await page.getByLabel('Metadata filter').fill('')
      await page.getByLabel('Only these documents').selectOption({ label: 'meaning.md' })
      await page.getByLabel('Keyword weight').fill('0.5')
      await page.getByLabel('Meaning weight').fill('2')
      await page.getByLabel('Fusion constant (rrf_k)').fill('10')
      await page.getByLabel('Results are').selectOption('document')
      const searched = page.waitForRequest((r) => r.url().endsWith('/search') && r.method() === 'POST')
      await page.getByRole('button', { name: 'Search', exact: true }).click()
      const sent = (await searched).postDataJSON()
      const semantic = await collectionByName('Semantic')
      const meaning = (await d.call('GET', `${R}/collections/${semantic.id}/documents`, { token: await d.adminToken() })).body.data[0]
      expect(sent).toMatchObject({ query: 'embeddings', mode: 'hybrid', group_by: 'document', document_ids: [meaning.id], weights: { lexical: 0.5, vector: 2 }, rrf_k: 10 })
      await first.getByRole('link', { name: 'meaning.md' }).waitFor()
      // A threshold no result reaches: none.
      await page.getByLabel('Score threshold').fill('1.5')
      await page.getByRole('button', { name: 'Search', exact: true }).click()
      await page.getByText('No results for “embeddings”.').waitFor()
      await d.screenshot(page, 'documents-search-options')

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

  test("a collection's name, description, model and chunking are edited; a chunking change re-indexes", async () => {
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page)
      await page.goto(`${d.base}/documents`)
      await page.getByRole('link', { name: 'Handbook' }).click()
      await page.getByRole('heading', { name: 'Handbook', level: 1 }).waitFor()
      await row(page, 'lighthouse.md').getByText('indexed', { exact: true }).waitFor()
      await page.getByRole('button', { name: 'Edit collection' }).click()
      const form = page.getByRole('form', { name: 'Edit collection' })
      expect(await form.getByLabel('Name').inputValue()).toBe('Handbook')
      await form.getByLabel('Description').fill('The handbook, edited')
      await form.getByLabel('Chunk size (tokens)').fill('120')
      await form.getByLabel('Chunk overlap (tokens)').fill('20')
      // Saying first what saving will do.
      await form.getByText(/Saving re-indexes all \d+ documents/).waitFor()
      await d.screenshot(page, 'documents-edit')
      await form.getByRole('button', { name: 'Save changes' }).click()
      await form.waitFor({ state: 'detached' })
      await page.getByTestId('collection-facts').getByText('120 tokens, 20 overlap').waitFor()
      await page.getByText('The handbook, edited').waitFor()
      const saved = await collectionByName('Handbook')
      expect(saved).toMatchObject({ description: 'The handbook, edited', chunk_tokens: 120, chunk_overlap: 20 })
      await row(page, 'lighthouse.md').getByText('indexed', { exact: true }).waitFor()
      // The audit log has the change, before and after.
      const audit = await d.call('GET', '/api-internal/v1/audit?action=rag.collection.update&limit=1', { token: await d.adminToken() })
      expect(audit.body.data[0].details.changes).toMatchObject({ chunk_tokens: { from: 300, to: 120 }, description: { to: 'The handbook, edited' } })
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test("an administrator's list says whose each collection is, and narrows to their own", async () => {
    const { page, context, errors } = await d.page()
    try {
      const other = await d.user()
      const login = await d.call('POST', '/api-internal/v1/auth/login', { body: { email: other.email, password: other.password } })
      expect((await d.call('POST', `${R}/collections`, { token: login.body.access_token, body: { name: 'Their notes' } })).status).toBe(201)
      expect((await d.call('POST', `${R}/collections`, { token: await d.adminToken(), body: { name: 'Admin notes' } })).status).toBe(201)
      await d.signIn(page)
      await page.goto(`${d.base}/documents`)
      const theirs = page.getByRole('row').filter({ hasText: 'Their notes' })
      await theirs.getByTestId('owner').getByText(other.email).waitFor()
      await page.getByRole('row').filter({ hasText: 'Admin notes' }).getByTestId('owner').getByText('you').waitFor()
      await page.getByLabel(/^Only my collections/).check()
      await theirs.waitFor({ state: 'detached' })
      await d.screenshot(page, 'documents-owners')
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
      // The server's rule, beside the field it is about and in the form's words (it was "chunk_overlap must be less
      // than half of chunk_tokens", in a banner).
      await page.locator('#col-overlap-error').getByText('Chunk overlap must be less than half of chunk size').waitFor()
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
      await page.keyboard.press('Escape')
      await page.getByTestId('document-drawer').waitFor({ state: 'hidden' })
      // On a phone the documents are cards, each value under its column's name, none hidden.
      await expect(row(page, 'lighthouse.md').locator('td[data-label="Status"]').count()).resolves.toBe(1)

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
