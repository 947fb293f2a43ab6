/**
 * Time-series charts for the whole dashboard, drawn by uPlot (small, fast canvas charts made for time series).
 * The chart follows its container's width, redraws when its data changes, and takes its colours from the theme.
 */
import { createEffect, onCleanup, onMount } from 'solid-js'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

export interface Series {
  label: string
  /** One value per point of `x`; null leaves a gap. */
  values: (number | null)[]
  /** Formats values on the axis and in the legend. */
  format?: (v: number) => string
}

const PALETTE = ['--accent', '--ok', '--warn', '--danger', '--muted']

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888'
}

/**
 * @example
 * <TimeChart title="Requests" x={points.map((p) => p.t)} series={[{ label: 'requests', values: points.map((p) => p.n) }]} />
 */
export function TimeChart(props: { title: string; x: number[]; series: Series[]; height?: number; bars?: boolean }) {
  let host: HTMLDivElement | undefined
  let plot: uPlot | undefined

  const data = (): uPlot.AlignedData => [props.x, ...props.series.map((s) => s.values)]

  function build() {
    plot?.destroy()
    if (!host) return
    const text = cssVar('--muted')
    const grid = cssVar('--border')
    const axis = (fmt?: (v: number) => string): uPlot.Axis => ({
      stroke: text,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
      ...(fmt ? { values: (_u: uPlot, splits: number[]) => splits.map(fmt) } : {}),
    })
    plot = new uPlot(
      {
        width: Math.max(200, host.clientWidth),
        height: props.height ?? 180,
        cursor: { drag: { x: false, y: false } },
        legend: { show: true },
        scales: { x: { time: true } },
        axes: [
          axis(),
          // The value axis is wide enough for labels such as "$0.000012" instead of clipping them.
          { ...axis(props.series[0]?.format), size: (_u: uPlot, values: string[] | null) => Math.max(50, 14 + 7 * Math.max(0, ...(values ?? []).map((v) => v.length))) },
        ],
        series: [
          {},
          ...props.series.map((s, i) => {
            const colour = cssVar(PALETTE[i % PALETTE.length]!)
            const series: uPlot.Series = {
              label: s.label,
              stroke: colour,
              width: 2,
              value: (_u: uPlot, v: number | null) => (v === null ? '—' : s.format ? s.format(v) : String(v)),
            }
            if (props.bars) Object.assign(series, { fill: colour, paths: uPlot.paths.bars!({ size: [0.6, 40] }) })
            return series
          }),
        ],
      },
      data(),
      host,
    )
  }

  onMount(() => {
    build()
    const resize = new ResizeObserver(() => plot && host && plot.setSize({ width: Math.max(200, host.clientWidth), height: props.height ?? 180 }))
    if (host) resize.observe(host)
    // A theme switch changes the CSS variables the chart was drawn with.
    const themed = new MutationObserver(build)
    themed.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] })
    onCleanup(() => {
      resize.disconnect()
      themed.disconnect()
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
      <figcaption class="sr-only">{props.title}</figcaption>
      <div ref={host} />
    </figure>
  )
}
