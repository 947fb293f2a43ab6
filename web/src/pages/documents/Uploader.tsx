/**
 * Drag-and-drop (or choose) many files; each is checked, then sent on its own, with its status and any refusal
 * reason shown beside its name.
 */
import { createResource, createSignal, For, Match, onCleanup, Show, Switch, type Accessor, type Setter } from 'solid-js'
import { api } from '../../api.ts'
import { formatNumber } from '../../ui.tsx'
import { eachLimited, PARALLEL_UPLOADS, precheck, uploadOne, type FileState } from './upload.ts'
import { RAG, count, formatBytes, type Doc, type UploadLimits } from './types.ts'

interface Item {
  file: File
  state: Accessor<FileState>
  setState: Setter<FileState>
}

const problem = (s: FileState) => (s.kind === 'rejected' || s.kind === 'failed' ? s : undefined)
const uploading = (s: FileState) => (s.kind === 'uploading' ? s : undefined)

export function Uploader(props: { collectionId: string; docs: readonly Doc[]; onAccepted: (doc: Doc) => void }) {
  // Without the limits the server still refuses what it must; only the early check is lost.
  const limitsReady = api<UploadLimits>('GET', `${RAG}/limits`).catch(() => undefined)
  const [limits] = createResource(() => limitsReady)
  const [items, setItems] = createSignal<Item[]>([])
  const [dragging, setDragging] = createSignal(false)
  const controller = new AbortController()
  onCleanup(() => controller.abort())

  const done = () => items().filter((i) => !['waiting', 'uploading'].includes(i.state().kind)).length
  const busy = () => done() < items().length

  async function add(files: File[]) {
    if (files.length === 0) return
    const added = files.map((file) => {
      const [state, setState] = createSignal<FileState>({ kind: 'waiting' })
      return { file, state, setState }
    })
    setItems((list) => [...added, ...list])
    const checks = await limitsReady
    const known = new Map(props.docs.map((d) => [d.sha256, d.filename]))
    const toSend: Item[] = []
    // Checked in order so that the second of two identical files is the one called a duplicate.
    for (const item of added) {
      const reason = await precheck(item.file, checks, known)
      if (reason) item.setState({ kind: 'rejected', message: reason })
      else toSend.push(item)
    }
    await eachLimited(toSend, PARALLEL_UPLOADS, (item) => send(item))
  }

  async function send(item: Item) {
    item.setState({ kind: 'uploading', fraction: 0 })
    try {
      const state = await uploadOne(props.collectionId, item.file, controller.signal, (fraction) => item.setState({ kind: 'uploading', fraction }))
      item.setState(state)
      if (state.kind === 'accepted') props.onAccepted(state.doc)
    } catch {
      // Aborted: the page was left; nothing to show.
    }
  }

  function onDrop(event: DragEvent) {
    event.preventDefault()
    setDragging(false)
    void add([...(event.dataTransfer?.files ?? [])])
  }

  return (
    <section class="card stack" aria-labelledby="upload-title">
      <h2 id="upload-title">Upload documents</h2>
      <div
        class="dropzone"
        classList={{ dragging: dragging() }}
        onDragEnter={(e) => {
          e.preventDefault()
          setDragging(true)
        }}
        onDragOver={(e) => {
          e.preventDefault()
          if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy'
        }}
        onDragLeave={(e) => {
          if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false)
        }}
        onDrop={onDrop}
      >
        <p><strong>Drop files here</strong> <span class="muted">or</span></p>
        <label for="doc-files" class="sr-only">Add files</label>
        <input
          id="doc-files"
          type="file"
          multiple
          aria-describedby="doc-files-hint"
          onChange={(e) => {
            const files = [...(e.currentTarget.files ?? [])]
            e.currentTarget.value = ''
            void add(files)
          }}
        />
        <p class="hint" id="doc-files-hint">
          <Show when={limits()} fallback="Text, Markdown, HTML, PDF, Word, Excel, CSV and JSON files.">
            {(l) => <>Accepted: {l().extensions.map((e) => `.${e}`).join(' ')}. Up to {formatBytes(l().max_file_bytes)} per file.</>}
          </Show>
        </p>
      </div>
      <Show when={items().length > 0}>
        <div class="row upload-summary">
          <p role="status" aria-live="polite">
            {busy() ? `Uploading: ${formatNumber(done())} of ${count(items().length, 'file')} done` : `Done: ${count(items().length, 'file')}`}
          </p>
          <div class="actions">
            <button class="secondary small" type="button" disabled={busy()} onClick={() => setItems([])}>Clear list</button>
          </div>
        </div>
        <ul class="upload-list" aria-label="Uploads">
          <For each={items()}>
            {(item) => (
              <li classList={{ rejected: ['rejected', 'failed'].includes(item.state().kind) }}>
                <div class="upload-name">
                  <span>{item.file.name}</span>
                  <span class="muted">{formatBytes(item.file.size)}</span>
                </div>
                <Switch>
                  <Match when={item.state().kind === 'waiting'}>
                    <span class="muted">Waiting…</span>
                  </Match>
                  <Match when={uploading(item.state())}>
                    {(s) => (
                      <span class="upload-progress">
                        <progress aria-label={`Uploading ${item.file.name}`} max="1" value={s().fraction} />
                        <span class="muted">{Math.round(s().fraction * 100)}%</span>
                      </span>
                    )}
                  </Match>
                  <Match when={item.state().kind === 'accepted'}>
                    <span class="badge ok">uploaded</span>
                  </Match>
                  <Match when={problem(item.state())}>
                    {(s) => (
                      <span class="upload-reason">
                        <span class="badge bad">{s().kind === 'rejected' ? 'refused' : 'failed'}</span> {s().message}
                        <Show when={s().kind === 'failed'}>
                          {' '}
                          <button class="secondary small" type="button" onClick={() => void send(item)}>Retry</button>
                        </Show>
                      </span>
                    )}
                  </Match>
                </Switch>
              </li>
            )}
          </For>
        </ul>
      </Show>
    </section>
  )
}
