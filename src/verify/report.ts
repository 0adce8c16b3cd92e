/** The HTML verify report: a table and, per run, an SVG chart of the per-position logit error. */
import type { CompareResult } from './compare.js';

export interface ReportRun {
  target: string;
  build: string;
  quant: string;
  result: CompareResult;
  tolerance: number;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function chart(run: ReportRun): string {
  const W = 640;
  const H = 180;
  const P = 40;
  const pts = run.result.positions;
  const floor = 1e-9;
  const lo = Math.log10(floor);
  const hi = Math.max(0, Math.ceil(Math.log10(Math.max(run.tolerance, ...pts.map((p) => p.topkErr), floor) * 10)));
  const y = (v: number) => P / 2 + (H - P) * (1 - (Math.log10(Math.max(v, floor)) - lo) / (hi - lo));
  const x = (i: number) => P + ((W - P - 10) * i) / Math.max(1, pts.length - 1);
  const line = pts.map((p, i) => `${x(i).toFixed(1)},${y(p.topkErr).toFixed(1)}`).join(' ');
  const ticks = [];
  for (let e = Math.ceil(lo); e <= hi; e += 3) ticks.push(`<text x="2" y="${y(10 ** e) + 4}" font-size="10">1e${e}</text><line x1="${P}" x2="${W - 10}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#eee"/>`);
  const bad = pts.filter((p) => !p.argmaxOk).map((p) => `<circle cx="${x(pts.indexOf(p))}" cy="${y(p.topkErr)}" r="4" fill="red"/>`);
  return `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="per-position logit error">
${ticks.join('\n')}
<line x1="${P}" x2="${W - 10}" y1="${y(run.tolerance)}" y2="${y(run.tolerance)}" stroke="orange" stroke-dasharray="4"/>
<text x="${W - 150}" y="${y(run.tolerance) - 4}" font-size="10" fill="orange">${run.tolerance === 0 ? 'exact (tolerance 0)' : `tolerance ${run.tolerance}`}</text>
<polyline points="${line}" fill="none" stroke="steelblue" stroke-width="1.5"/>
${bad.join('\n')}
<text x="${P}" y="${H - 4}" font-size="10">position 0 .. ${pts.length - 1} (errors of exactly 0 drawn at 1e-9)</text>
</svg>`;
}

export function renderReport(runs: ReportRun[], title: string): string {
  const rows = runs
    .map(
      (r) =>
        `<tr><td>${esc(r.target)}</td><td>${esc(r.build)}</td><td>${r.quant}</td><td>${r.result.mode}</td><td>${r.result.positions.length}</td><td>${r.result.argmaxAgree}/${r.result.positions.length}</td><td>${r.result.worstLogitErr.toExponential(2)}</td><td>${r.result.worstRelL2.toExponential(2)}</td><td class="${r.result.pass ? 'ok' : 'bad'}">${r.result.pass ? 'PASS' : 'FAIL'}</td></tr>`,
    )
    .join('\n');
  const charts = runs.map((r) => `<h3>${esc(r.target)} / ${esc(r.build)} / ${r.quant} / ${r.result.mode}</h3>\n${chart(r)}\n${r.result.failures.length ? `<pre>${esc(r.result.failures.slice(0, 10).join('\n'))}</pre>` : ''}`).join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}.ok{color:green}.bad{color:red;font-weight:bold}</style>
</head><body>
<h1>${esc(title)}</h1>
<p>Worst |logit error| is over the engine's top-k logits at each position; the reference is fed the tokens the engine consumed.</p>
<table><tr><th>target</th><th>build</th><th>quant</th><th>mode</th><th>positions</th><th>argmax agree</th><th>worst logit err</th><th>worst rel L2</th><th>verdict</th></tr>
${rows}
</table>
${charts}
</body></html>
`;
}
