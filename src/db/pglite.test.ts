import { expect, test } from 'bun:test'
import { dirname, join } from 'node:path'
import { createPGlite } from './pglite.ts'

test('PGlite runs from files handed to it (as in the single binary), pgvector included', async () => {
  const pglite = dirname(Bun.resolveSync('@electric-sql/pglite', import.meta.dir))
  const pgvector = dirname(Bun.resolveSync('@electric-sql/pglite-pgvector', import.meta.dir))
  const db = await createPGlite(undefined, {
    wasm: join(pglite, 'pglite.wasm'),
    initdbWasm: join(pglite, 'initdb.wasm'),
    data: join(pglite, 'pglite.data'),
    vector: join(pgvector, 'vector.tar.gz'),
  })
  try {
    const { rows } = await db.query<{ d: number }>(`SELECT '[1,2]'::vector <-> '[1,3]'::vector AS d`)
    expect(rows).toEqual([{ d: 1 }])
  } finally {
    await db.close()
  }
}, 30_000)
