import { describe, expect, test } from 'bun:test'
import { ExtractionError, extractFile, formatOf, MAX_PDF_PAGES, type ExtractionFailure, type Format } from './index.ts'
import {
  docx,
  encode,
  encryptedOoxml,
  handmadePdf,
  pdfLibPdf,
  plainZip,
  PNG_BYTES,
  patchedWorkbook,
  workbook,
  xlsWithFilePass,
  zipGarbage,
} from './testing.ts'

async function failure(filename: string, bytes: Uint8Array): Promise<ExtractionError> {
  try {
    await extractFile(filename, bytes)
  } catch (error) {
    if (error instanceof ExtractionError) return error
    throw error
  }
  throw new Error(`${filename}: extraction succeeded but a failure was expected`)
}

async function only(filename: string, bytes: Uint8Array) {
  const file = await extractFile(filename, bytes)
  expect(file.documents).toHaveLength(1)
  const [document] = file.documents
  if (document === undefined) throw new Error('no document')
  return { format: file.format, document }
}

describe('formatOf', () => {
  const cases: [string, Format | undefined][] = [
    ['notes.txt', 'txt'],
    ['NOTES.TEXT', 'txt'],
    ['readme.Markdown', 'md'],
    ['guide.md', 'md'],
    ['page.HTM', 'html'],
    ['page.html', 'html'],
    ['report.pdf', 'pdf'],
    ['letter.docx', 'docx'],
    ['book.XLSX', 'xlsx'],
    ['old.xls', 'xls'],
    ['table.csv', 'csv'],
    ['data.json', 'json'],
    ['corpus.jsonl', 'jsonl'],
    ['dir.v2/archive.tar.gz', undefined],
    ['photo.png', undefined],
    ['Makefile', undefined],
    ['.md', undefined],
  ]
  for (const [filename, expected] of cases) {
    test(`${filename} -> ${expected}`, () => expect(formatOf(filename)).toBe(expected))
  }
})

describe('text formats', () => {
  test('txt is one normalised section, BOM stripped', async () => {
    const bytes = encode('\uFEFFFirst line   \r\nsecond\r\n\r\n\r\n\r\nthird\t \n')
    const { format, document } = await only('notes.txt', bytes)
    expect(format).toBe('txt')
    expect(document.sections).toEqual([{ text: 'First line\nsecond\n\nthird' }])
  })

  test('prose that happens to start with a binary signature is still text', async () => {
    // "BM" is the BMP signature and "MZ" the EXE one, so file-type names both for these bytes.
    const { document } = await only('cars.txt', encode('BMW and MZ motorcycles\n'))
    expect(document.sections[0]?.text).toBe('BMW and MZ motorcycles')
  })

  test('md: nested headings become heading paths, first h1 is the title', async () => {
    const md = [
      'Preface text.',
      '',
      '# Guide',
      '',
      'Welcome **here**.',
      '',
      '## Install',
      '',
      '- step one',
      '- step two',
      '',
      '### Linux',
      '',
      '```sh',
      'apt install thing',
      '```',
      '',
      '## Use',
      '',
      'Run it. <span>inline</span>',
      '',
      '<script>alert("no")</script>',
      '',
      '# Appendix',
      'Last words.',
    ].join('\n')
    const { document } = await only('guide.md', encode(md))
    expect(document.title).toBe('Guide')
    expect(document.sections).toEqual([
      { text: 'Preface text.' },
      { text: 'Welcome **here**.', heading: 'Guide' },
      { text: '- step one\n- step two', heading: 'Guide > Install' },
      { text: '```sh\napt install thing\n```', heading: 'Guide > Install > Linux' },
      { text: 'Run it. <span>inline</span>', heading: 'Guide > Use' },
      { text: 'Last words.', heading: 'Appendix' },
    ])
  })

  test('md: front matter is metadata, not a heading', async () => {
    const { document } = await only('post.markdown', encode('---\ntitle: "Release notes"\nauthor: Ana\n---\n\n## Fixes\n\nLots.\n'))
    expect(document.title).toBe('Release notes')
    expect(document.metadata).toEqual({ frontMatter: { title: 'Release notes', author: 'Ana' } })
    expect(document.sections).toEqual([{ text: 'Lots.', heading: 'Fixes' }])
  })

  test('html: title, heading paths, tables, entities; script/style/noscript/template do not leak', async () => {
    const html = `<!doctype html><html><head><title>Ops &amp; Runbook</title>
      <style>.secret-css { color: red }</style><script>var secretJs = 1</script><meta name="x" content="y"></head>
      <body><noscript>secret-noscript</noscript><template><p>secret-template</p></template>
      <h1>Intro</h1><p>Caf&eacute;   opens<br>at nine.</p>
      <h2>Scope</h2><p>Covers <b>all</b> sites.</p>
      <table><tr><th>Site</th><th>Hours</th></tr><tr><td><p>Oslo</p></td><td>9&ndash;17</td></tr></table>
      <script>document.write('secret-inline')</script>
      <h1>Other</h1><ul><li>one</li><li>two</li></ul></body></html>`
    const { document } = await only('runbook.htm', encode(html))
    expect(document.title).toBe('Ops & Runbook')
    expect(document.sections).toEqual([
      { text: 'Café opens\nat nine.', heading: 'Intro' },
      { text: 'Covers all sites.\n\nSite | Hours\nOslo | 9–17', heading: 'Intro > Scope' },
      { text: '- one\n- two', heading: 'Other' },
    ])
    expect(JSON.stringify(document)).not.toMatch(/secret/)
  })

  test('csv: semicolon delimiter sniffed, rows rendered with headers, quoted newlines kept in one record', async () => {
    const csv = 'Name;City;Note\r\nAna;Oslo;"likes\r\nsnow"\r\n\r\nBo;;late\r\n'
    const { document } = await only('people.csv', encode(csv))
    expect(document.sections).toEqual([{ text: 'Name: Ana; City: Oslo; Note: likes snow\nName: Bo; Note: late', rows: [1, 3] }])
  })

  test('csv: long tables are grouped into ~2000 character sections with row ranges', async () => {
    const lines = ['id,comment']
    for (let i = 1; i <= 200; i++) lines.push(`${i},${'word '.repeat(10).trim()} ${i}`)
    const { document } = await only('big.csv', encode(lines.join('\n')))
    expect(document.sections.length).toBeGreaterThan(3)
    let next = 1
    for (const section of document.sections) {
      expect(section.text.length).toBeLessThanOrEqual(2000)
      const [first, last] = section.rows ?? [0, 0]
      expect(first).toBe(next)
      next = last + 1
    }
    expect(next).toBe(201)
  })

  test('json: flattened path lines', async () => {
    const json = JSON.stringify({ name: 'Widget', tags: ['a', 'b'], dims: { w: 2, h: null }, empty: {} })
    const { document } = await only('item.json', encode(json))
    expect(document.sections).toEqual([{ text: 'name: Widget\ntags[0]: a\ntags[1]: b\ndims.w: 2\ndims.h: null\nempty: {}' }])
  })

  test('jsonl: one document per record, other fields become metadata', async () => {
    const jsonl = [
      JSON.stringify({ text: 'First body', title: 'One', source_url: 'https://example.com/1', _id: 7 }),
      '',
      JSON.stringify({ text: 'Second\r\n\r\n\r\nbody', tags: ['x'] }),
    ].join('\r\n')
    const file = await extractFile('corpus.jsonl', encode(jsonl))
    expect(file.format).toBe('jsonl')
    expect(file.documents).toEqual([
      { title: 'One', sections: [{ text: 'First body' }], metadata: { source_url: 'https://example.com/1', _id: 7 } },
      { sections: [{ text: 'Second\n\nbody' }], metadata: { tags: ['x'] } },
    ])
  })
})

describe('binary formats', () => {
  test('pdf (pdf-lib): one section per page with page numbers and the Title', async () => {
    const bytes = await pdfLibPdf(['Alpha page one', 'Beta page two', 'Gamma page three'], 'Quarterly Report')
    const { format, document } = await only('report.pdf', bytes)
    expect(format).toBe('pdf')
    expect(document.title).toBe('Quarterly Report')
    expect(document.metadata).toMatchObject({ pages: 3 })
    expect(document.sections).toEqual([
      { text: 'Alpha page one', page: 1 },
      { text: 'Beta page two', page: 2 },
      { text: 'Gamma page three', page: 3 },
    ])
    // pdf.js may detach the buffer it is handed; the caller's copy must survive.
    expect(bytes.byteLength).toBeGreaterThan(0)
  })

  test('pdf: junk before the %PDF- header is tolerated, as readers do', async () => {
    const pdf = await pdfLibPdf(['After the junk'])
    const bytes = new Uint8Array([...encode('\uFEFF\r\n\r\n'), ...pdf])
    const { document } = await only('prefixed.pdf', bytes)
    expect(document.sections).toEqual([{ text: 'After the junk', page: 1 }])
  })

  test('pdf: a blank page gets no section but keeps the others numbered', async () => {
    const { document } = await only('gaps.pdf', await pdfLibPdf(['first', '', 'third']))
    expect(document.sections.map((section) => section.page)).toEqual([1, 3])
  })

  test('pdf encrypted with an empty user password (permissions only) is still extracted', async () => {
    const { document } = await only('restricted.pdf', handmadePdf(['Open text one', 'Open text two'], { title: 'Restricted', userPassword: '' }))
    expect(document.title).toBe('Restricted')
    expect(document.sections).toEqual([
      { text: 'Open text one', page: 1 },
      { text: 'Open text two', page: 2 },
    ])
  })

  test('docx: heading styles become heading paths and the first heading is the title', async () => {
    const bytes = await docx([
      ['Intro', 'Heading1'],
      ['Body one.'],
      ['Scope', 'Heading2'],
      ['Body two & more.'],
      ['Limits', 'Heading1'],
      ['Body three.'],
    ])
    const { format, document } = await only('plan.docx', bytes)
    expect(format).toBe('docx')
    expect(document.title).toBe('Intro')
    expect(document.sections).toEqual([
      { text: 'Body one.', heading: 'Intro' },
      { text: 'Body two & more.', heading: 'Intro > Scope' },
      { text: 'Body three.', heading: 'Limits' },
    ])
  })

  for (const bookType of ['xlsx', 'xls'] as const) {
    test(`${bookType}: every sheet, rows rendered against the header row`, async () => {
      const bytes = workbook(bookType, {
        Fruit: [['Name', 'Qty', ''], ['Apple', 3, 'red'], [], ['Pear', 5]],
        Cities: [['City'], ['Oslo'], ['Lima']],
      })
      const { format, document } = await only(`stock.${bookType}`, bytes)
      expect(format).toBe(bookType)
      expect(document.metadata).toEqual({ sheets: ['Fruit', 'Cities'] })
      expect(document.sections).toEqual([
        { text: 'Name: Apple; Qty: 3; C: red\nName: Pear; Qty: 5', sheet: 'Fruit', rows: [1, 3] },
        { text: 'City: Oslo\nCity: Lima', sheet: 'Cities', rows: [1, 2] },
      ])
    })
  }

  test('xlsx: an inflated <dimension> claim does not count against the cell limit', async () => {
    const bytes = await patchedWorkbook([['Key'], ['value']], (xml) => xml.replace(/<dimension ref="[^"]*"/, '<dimension ref="A1:XFD1048576"'))
    const { document } = await only('claims.xlsx', bytes)
    expect(document.sections).toEqual([{ text: 'Key: value', sheet: 'Sheet1', rows: [1, 1] }])
  })

  test('xlsx: a big sheet is split into sections under ~2000 characters', async () => {
    const rows: unknown[][] = [['Id', 'Description']]
    for (let i = 1; i <= 300; i++) rows.push([i, `Item number ${i} with a reasonably long description`])
    const { document } = await only('items.xlsx', workbook('xlsx', { Items: rows }))
    expect(document.sections.length).toBeGreaterThan(5)
    expect(document.sections.every((section) => section.text.length <= 2000 && section.sheet === 'Items')).toBe(true)
    expect(document.sections[0]?.rows?.[0]).toBe(1)
    expect(document.sections.at(-1)?.rows?.[1]).toBe(300)
  })
})

describe('failures name the file and say why', () => {
  const cases: [label: string, filename: string, bytes: () => Uint8Array | Promise<Uint8Array>, reason: ExtractionFailure, message: RegExp][] = [
    ['unknown extension', 'photo.png', () => PNG_BYTES, 'unsupported_type', /^photo\.png: "\.png" files are not supported/],
    ['no extension', 'uploads/README', () => encode('hello'), 'unsupported_type', /^README: the file name has no extension/],
    ['pdf that is a PNG', 'report.pdf', () => PNG_BYTES, 'type_mismatch', /^report\.pdf: the content is not a PDF \(looks like a PNG image\)$/],
    ['xlsx that is a PNG', 'data.xlsx', () => PNG_BYTES, 'type_mismatch', /^data\.xlsx: the content is not an Excel workbook \(looks like a PNG image\)$/],
    ['txt that is a PNG', 'notes.txt', () => PNG_BYTES, 'type_mismatch', /^notes\.txt: the content is not text \(looks like a PNG image\)$/],
    ['txt in Latin-1', 'latin.txt', () => Uint8Array.from([0x63, 0x61, 0x66, 0xe9, 0x0a]), 'type_mismatch', /^latin\.txt: the content is not UTF-8 text/],
    ['md in UTF-16 without a BOM', 'wide.md', () => Uint8Array.from([0x68, 0, 0x69, 0]), 'type_mismatch', /^wide\.md: the content is binary data/],
    ['json that is a PDF', 'data.json', () => pdfLibPdf(['x']), 'type_mismatch', /^data\.json: the content is not text \(looks like a PDF document\)$/],
    ['docx that is a workbook', 'letter.docx', () => workbook('xlsx', { S: [['a'], ['b']] }), 'type_mismatch', /^letter\.docx: the content is not a Word document \(looks like an Excel workbook \(\.xlsx\)\)$/],
    ['xlsx that is an xls', 'legacy.xlsx', () => workbook('xls', { S: [['a'], ['b']] }), 'type_mismatch', /^legacy\.xlsx: .*rename it to \.xls/],
    ['xls that is an xlsx', 'modern.xls', () => workbook('xlsx', { S: [['a'], ['b']] }), 'type_mismatch', /^modern\.xls: .*rename it to \.xlsx/],
    ['empty file', 'blank.txt', () => new Uint8Array(0), 'empty', /^blank\.txt: the file is empty$/],
    ['empty pdf', 'blank.pdf', () => new Uint8Array(0), 'empty', /^blank\.pdf: the file is empty$/],
    ['whitespace only', 'spaces.md', () => encode(' \r\n\t\n  '), 'empty', /^spaces\.md: the file contains only whitespace$/],
    ['html with only a script', 'app.html', () => encode('<html><head><title></title></head><body><script>x()</script></body></html>'), 'empty', /^app\.html: the file contains no text$/],
    ['pdf without text', 'scan.pdf', () => pdfLibPdf(['', '']), 'empty', /^scan\.pdf: the PDF contains no extractable text/],
    ['workbook with empty sheets', 'void.xlsx', () => workbook('xlsx', { A: [], B: [] }), 'empty', /^void\.xlsx: the file contains no text$/],
    ['truncated pdf', 'cut.pdf', async () => (await pdfLibPdf(['Alpha', 'Beta'], 'T')).slice(0, 200), 'corrupt', /^cut\.pdf: the PDF is damaged or incomplete$/],
    ['zip garbage named .docx', 'broken.docx', () => zipGarbage(), 'corrupt', /^broken\.docx: the Word document is damaged/],
    ['zip without Word parts', 'archive.docx', () => plainZip(), 'corrupt', /^archive\.docx: the Word document is damaged/],
    ['zip garbage named .xlsx', 'broken.xlsx', () => zipGarbage(), 'corrupt', /^broken\.xlsx: the Excel workbook is damaged/],
    ['truncated xls', 'cut.xls', () => workbook('xls', { S: [['a'], ['b']] }).slice(0, 1500), 'corrupt', /^cut\.xls: the Excel workbook is damaged/],
    ['invalid json', 'bad.json', () => encode('{"a": 1,'), 'corrupt', /^bad\.json: the content is not valid JSON$/],
    ['json with nothing in it', 'hollow.json', () => encode('{"a": {}, "b": [], "c": null}'), 'empty', /^hollow\.json: the JSON holds no text/],
    ['csv with an unclosed quote', 'open.csv', () => encode('a,b\n1,"never closed\n2,3\n'), 'corrupt', /^open\.csv line \d+: a quoted field is never closed$/],
    ['jsonl with a broken line', 'corpus.jsonl', () => encode(`${JSON.stringify({ text: 'ok' })}\n\n{"text": "cut`), 'corrupt', /^corpus\.jsonl line 3: not valid JSON$/],
    ['jsonl record without text', 'corpus.jsonl', () => encode(`${JSON.stringify({ text: 'ok' })}\n${JSON.stringify({ body: 'x' })}`), 'corrupt', /^corpus\.jsonl line 2: the "text" field is missing/],
    ['jsonl record with blank text', 'corpus.jsonl', () => encode(JSON.stringify({ text: '  \n ' })), 'corrupt', /^corpus\.jsonl line 1: the "text" field is empty$/],
    ['jsonl line that is not an object', 'corpus.jsonl', () => encode('[1, 2]'), 'corrupt', /^corpus\.jsonl line 1: not a JSON object$/],
    ['jsonl with a non-string title', 'corpus.jsonl', () => encode(JSON.stringify({ text: 'a', title: 5 })), 'corrupt', /^corpus\.jsonl line 1: the "title" field is not a string$/],
    ['password-locked pdf', 'locked.pdf', () => handmadePdf(['Secret'], { userPassword: 'hunter2' }), 'encrypted', /^locked\.pdf: the PDF is password-protected/],
    ['encrypted OOXML named .docx', 'secret.docx', () => encryptedOoxml(), 'encrypted', /^secret\.docx: the Word document is password-protected/],
    ['encrypted OOXML named .xlsx', 'secret.xlsx', () => encryptedOoxml(), 'encrypted', /^secret\.xlsx: the Excel workbook is password-protected/],
    ['encrypted OOXML named .xls', 'secret.xls', () => encryptedOoxml(), 'encrypted', /^secret\.xls: the Excel workbook is password-protected/],
    ['sheet whose used range is enormous', 'sparse.xlsx', () => farCellWorkbook(), 'corrupt', /^sparse\.xlsx: the Excel workbook spans 2,600,000 cells; at most 1,000,000 can be extracted$/],
    ['xls with FILEPASS', 'locked.xls', () => xlsWithFilePass(), 'encrypted', /^locked\.xls: the Excel workbook is password-protected/],
  ]
  for (const [label, filename, bytes, reason, message] of cases) {
    test(label, async () => {
      const error = await failure(filename, await bytes())
      expect(error.reason).toBe(reason)
      expect(error.message).toMatch(message)
    })
  }

  test(`pdf with more than ${MAX_PDF_PAGES} pages is refused before extraction`, async () => {
    const error = await failure('huge.pdf', await pdfLibPdf(Array.from({ length: MAX_PDF_PAGES + 1 }, () => '')))
    expect(error.reason).toBe('corrupt')
    expect(error.message).toBe(`huge.pdf: the PDF has ${MAX_PDF_PAGES + 1} pages; at most ${MAX_PDF_PAGES} can be extracted`)
  })

  test('the underlying library error is kept as the cause, not shown in the message', async () => {
    const error = await failure('broken.docx', zipGarbage())
    expect(error.cause).toBeInstanceOf(Error)
    expect(error.message).not.toContain((error.cause as Error).message)
  })
})

/** Two cells, A1 and Z100000: a tiny file whose used range covers 2.6 million cells. */
function farCellWorkbook(): Promise<Uint8Array> {
  return patchedWorkbook([['a'], [], ['z']], (xml) =>
    xml
      .replace(/<dimension ref="[^"]*"/, '<dimension ref="A1:Z100000"')
      .replace(/<row r="3"([^>]*)>/, '<row r="100000"$1>')
      .replace(/ r="A3"/, ' r="Z100000"'),
  )
}

test('a PDF handed over as a Node Buffer inside a larger pool (as decryption returns it) extracts', async () => {
  const pdf = await pdfLibPdf(['Inside a pooled buffer.'])
  const pooled = Buffer.concat([Buffer.from('prefix-bytes'), Buffer.from(pdf)]).subarray(12)
  expect(pooled.byteOffset).toBeGreaterThan(0)
  const out = await extractFile('pooled.pdf', pooled)
  expect(out.documents[0]?.sections.map((s) => s.text)).toEqual(['Inside a pooled buffer.'])
})
