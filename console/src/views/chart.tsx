import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** One series over time, drawn by uPlot; the same points as a table for screen readers and the curious. */
export function TimeChart({
  title,
  unit,
  times,
  values,
  id,
  empty,
}: {
  /** Said under the title when the window holds no value (why there is none). */
  empty?: string;
  title: string;
  unit: string;
  /** Seconds since the epoch. */
  times: number[];
  values: Array<number | null>;
  id: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const dark = matchMedia('(prefers-color-scheme: dark)').matches;
    const stroke = dark ? '#8ab4f8' : '#0b57d0';
    const axis = { stroke: dark ? '#a4acb8' : '#555d69', grid: { stroke: dark ? '#343a44' : '#e3e6ea' } };
    const p = new uPlot(
      {
        width: Math.max(240, el.clientWidth),
        height: 180,
        series: [{}, { label: `${title} (${unit})`, stroke, width: 2, spanGaps: false }],
        axes: [axis, { ...axis, size: 56 }],
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
      },
      [times, values],
      el,
    );
    plot.current = p;
    const ro = new ResizeObserver(() => p.setSize({ width: Math.max(240, el.clientWidth), height: 180 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      p.destroy();
      plot.current = null;
    };
  }, [title, unit]);
  // New points redraw the same chart: it is not rebuilt.
  useEffect(() => {
    plot.current?.setData([times, values]);
  }, [times, values]);
  const shown = values.filter((v) => v !== null).length;
  return (
    <figure class="chart" data-chart={id} data-points={shown}>
      <figcaption>
        {title} <span class="muted">({unit})</span>
        {shown === 0 && empty && <span class="chart-empty muted">{empty}</span>}
      </figcaption>
      <div ref={box} class="chart-box" role="img" aria-label={`${title} over time, ${shown} points`} />
      <details>
        <summary>Data</summary>
        <table class="data">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">{title}</th>
            </tr>
          </thead>
          <tbody>
            {times.map((t, i) => (
              <tr key={t}>
                <td>{new Date(t * 1000).toLocaleTimeString()}</td>
                <td data-value={values[i] ?? ''}>{values[i] ?? '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
