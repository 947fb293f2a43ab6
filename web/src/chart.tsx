/**
 * Time-series charts for the whole dashboard, drawn by uPlot (small, fast canvas charts made for time series).
 * The chart follows its container's width, redraws when its data changes, and takes its colours from the theme.
 * What uPlot leaves raw is ours: a legend of swatches whose entries switch a series on and off, a tooltip with the
 * bucket's time span and each value formatted in its unit (never "69.79999999999998"), value axes sized to their
 * widest label (measured, so none is clipped), and single points drawn where a series has a value between gaps
 * (a line needs two neighbours: one busy hour in a day of nulls was otherwise invisible).
 */
import { createEffect, createSignal, For, onCleanup, onMount } from 'solid-js'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

export interface Series {
  label: string
  /** One value per point of `x`; null leaves a gap. */
  values: (number | null)[]
  /** Formats values on the axis, in the tooltip and in the legend. */
  format?: (v: number) => string
}

const PALETTE = ['--accent', '--ok', '--warn', '--danger', '--muted']
const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888'
}

let measurer: CanvasRenderingContext2D | null | undefined
function textWidth(text: string): number {
  measurer ??= document.createElement('canvas').getContext('2d')
  if (!measurer) return text.length * 7
  measurer.font = FONT
  return measurer.measureText(text).width
}

/** Indices whose value stands alone between gaps: drawn as points, since no line reaches them. */
function isolated(values: ArrayLike<number | null | undefined>): number[] {
  const out: number[] = []
  for (let i = 0; i < values.length; i++)
    if (values[i] != null && values[i - 1] == null && values[i + 1] == null) out.push(i)
  return out
}

const two = (n: number) => String(n).padStart(2, '0')
const hm = (d: Date) => `${two(d.getHours())}:${two(d.getMinutes())}`
const day = (d: Date) => d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })

/** The time span a bucket covers, as people say it: "Dec 6, 14:00–15:00", "Dec 6". */
export function bucketLabel(t: number, bucketSeconds: number | undefined): string {
  const start = new Date(t * 1000)
  if (!bucketSeconds) return `${day(start)}, ${hm(start)}`
  if (bucketSeconds >= 86_400) return day(start)
  const end = new Date((t + bucketSeconds) * 1000)
  return `${day(start)}, ${hm(start)}–${hm(end)}`
}

/** A number fit for an axis or a tooltip: no float noise, thousands separated, small values kept readable. */
export function niceNumber(v: number): string {
  if (v === 0) return '0'
  const abs = Math.abs(v)
  if (abs >= 1000) return new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 }).format(v)
  if (abs >= 10) return new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format(v)
  return new Intl.NumberFormat(undefined, { maximumSignificantDigits: 3 }).format(v)
}

/**
 * @example
 * <TimeChart title="Requests" unit="requests" x={points.map((p) => p.t)} series={[{ label: 'requests', values: points.map((p) => p.n) }]} />
 */
export function TimeChart(props: { title: string; x: number[]; series: Series[]; height?: number; bars?: boolean; unit?: string; bucketSeconds?: number }) {
  let host: HTMLDivElement | undefined
  let plot: uPlot | undefined
  let tip: HTMLDivElement | undefined
  const [colours, setColours] = createSignal<string[]>([])
  const [hidden, setHidden] = createSignal<Set<number>>(new Set())

  const data = (): uPlot.AlignedData => [props.x, ...props.series.map((s) => s.values)]
  const fmt = (i: number) => props.series[i]?.format ?? niceNumber

  function showTip(u: uPlot) {
    if (!tip) return
    const idx = u.cursor.idx
    if (idx == null || u.cursor.left == null || u.cursor.left < 0) {
      tip.style.display = 'none'
      return
    }
    const t = u.data[0][idx]
    if (t == null) return
    tip.replaceChildren()
    const head = document.createElement('strong')
    head.textContent = bucketLabel(t, props.bucketSeconds)
    tip.append(head)
    props.series.forEach((s, i) => {
      if (hidden().has(i)) return
      const v = u.data[i + 1]?.[idx]
      const line = document.createElement('div')
      const swatch = document.createElement('span')
      swatch.className = 'swatch'
      swatch.style.background = colours()[i] ?? ''
      const name = document.createElement('span')
      name.textContent = s.label
      const value = document.createElement('span')
      value.textContent = v == null ? 'no data' : fmt(i)(v)
      line.append(swatch, name, value)
      tip?.append(line)
    })
    tip.style.display = 'block'
    const width = tip.offsetWidth
    const left = u.cursor.left + 12 + width > u.over.clientWidth ? u.cursor.left - width - 12 : u.cursor.left + 12
    tip.style.left = `${Math.max(0, left) + u.over.offsetLeft}px`
    tip.style.top = `${u.over.offsetTop + 8}px`
  }

  function build() {
    plot?.destroy()
    if (!host) return
    const text = cssVar('--muted')
    const grid = cssVar('--border')
    const palette = props.series.map((_, i) => cssVar(PALETTE[i % PALETTE.length] ?? '--accent'))
    setColours(palette)
    const valueFormat = fmt(0)
    const axis: uPlot.Axis = { stroke: text, font: FONT, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } }
    plot = new uPlot(
      {
        width: Math.max(200, host.clientWidth),
        height: props.height ?? 200,
        cursor: { drag: { x: false, y: false }, points: { size: 7 } },
        legend: { show: false },
        scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
        axes: [
          { ...axis, space: 70 },
          {
            ...axis,
            values: (_u: uPlot, splits: number[]) => splits.map((v) => valueFormat(v)),
            // As wide as the widest label, measured: nothing clipped, no space wasted.
            size: (_u: uPlot, values: string[] | null) => Math.ceil(Math.max(24, ...(values ?? []).map(textWidth))) + 18,
          },
        ],
        series: [
          {},
          ...props.series.map((s, i) => {
            const colour = palette[i] ?? '#888'
            const series: uPlot.Series = {
              label: s.label,
              stroke: colour,
              width: 2,
              show: !hidden().has(i),
              // Only where no line reaches: a busy bucket between empty ones.
              points: { show: false, size: 6, fill: colour, filter: (u: uPlot, si: number) => isolated(u.data[si] ?? []) },
            }
            if (props.bars) Object.assign(series, { fill: `${colour}cc`, paths: uPlot.paths.bars?.({ size: [0.6, 40] }), points: { show: false } })
            return series
          }),
        ],
        hooks: { setCursor: [showTip] },
      },
      data(),
      host,
    )
    tip = document.createElement('div')
    tip.className = 'chart-tip'
    tip.style.display = 'none'
    tip.setAttribute('aria-hidden', 'true')
    plot.root.append(tip)
    plot.over.addEventListener('mouseleave', () => tip && (tip.style.display = 'none'))
  }

  function toggle(i: number) {
    const next = new Set(hidden())
    if (next.has(i)) next.delete(i)
    else next.add(i)
    setHidden(next)
    plot?.setSeries(i + 1, { show: !next.has(i) })
  }

  onMount(() => {
    build()
    const resize = new ResizeObserver(() => plot && host && plot.setSize({ width: Math.max(200, host.clientWidth), height: props.height ?? 200 }))
    if (host) resize.observe(host)
    // A theme switch changes the CSS variables the chart was drawn with.
    const themed = new MutationObserver(build)
    themed.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] })
    const scheme = window.matchMedia('(prefers-color-scheme: dark)')
    scheme.addEventListener('change', build)
    onCleanup(() => {
      resize.disconnect()
      themed.disconnect()
      scheme.removeEventListener('change', build)
      plot?.destroy()
    })
  })

  createEffect(() => {
    const next = data()
    const shape = props.series.map((s) => s.label).join('\u0000')
    if (plot && plot.series.length - 1 === props.series.length && shape === plot.series.slice(1).map((s) => s.label).join('\u0000')) plot.setData(next)
    else if (plot) build()
  })

  return (
    <figure class="chart" aria-label={props.title}>
      <figcaption class="sr-only">{props.title}{props.unit ? ` (${props.unit})` : ''}</figcaption>
      {props.unit ? <p class="chart-unit" aria-hidden="true">{props.unit}</p> : null}
      <div ref={host} />
      <ul class="chart-legend" aria-label={`${props.title}: series`}>
        <For each={props.series}>
          {(s, i) => (
            <li>
              <button type="button" class="ghost small" aria-pressed={!hidden().has(i())} onClick={() => toggle(i())} title={hidden().has(i()) ? `Show ${s.label}` : `Hide ${s.label}`}>
                <span class="swatch" style={{ background: hidden().has(i()) ? 'transparent' : (colours()[i()] ?? ''), border: `2px solid ${colours()[i()] ?? ''}` }} />
                {s.label}
              </button>
            </li>
          )}
        </For>
      </ul>
    </figure>
  )
}
