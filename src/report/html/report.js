// mosquitto-matrix report: filters over the grid, and a cell's wire timeline drawn on click.
// Everything it needs is in this page (the #cells JSON); it fetches nothing.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const cells = new Map(JSON.parse($('cells').textContent).map((c) => [c.id, c]));
  const SVG = 'http://www.w3.org/2000/svg';

  // Seconds with one decimal, never a negative zero.
  const secs = (s) => {
    const v = Math.round(s * 10) / 10;
    return (v === 0 ? 0 : v).toFixed(1) + ' s';
  };

  const el = (name, attrs, text) => {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };

  // A sequence diagram: the client's lane on the left, the broker's on the right, one arrow per
  // event from its sender, its time on the left; a quiet stretch over 1 s is one marked gap.
  function draw(events) {
    const width = 740, xc = 230, xb = 640, top = 40, row = 28, gapRow = 22;
    const rows = [];
    let y = top, last = null;
    for (const e of events) {
      if (last !== null && e.at - last > 1) {
        rows.push({ gap: e.at - last, y: y + 14 });
        y += gapRow;
      }
      y += row;
      rows.push({ e, y });
      last = e.at;
    }
    const height = y + 20;
    const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
    svg.append(el('text', { x: xc, y: 18, 'text-anchor': 'middle', class: 'lanehead' }, 'client'));
    svg.append(el('text', { x: xb, y: 18, 'text-anchor': 'middle', class: 'lanehead' }, 'broker'));
    svg.append(el('line', { x1: xc, y1: 26, x2: xc, y2: height - 6, class: 'lane' }));
    svg.append(el('line', { x1: xb, y1: 26, x2: xb, y2: height - 6, class: 'lane' }));
    const defs = el('defs');
    for (const [id, colour] of [['ah-client', '#1f5fa8'], ['ah-broker', '#a8431f']]) {
      const m = el('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
      m.append(el('path', { d: 'M0,0 L10,5 L0,10 z', fill: colour }));
      defs.append(m);
    }
    svg.append(defs);
    for (const r of rows) {
      if (r.gap !== undefined) {
        svg.append(el('text', { x: (xc + xb) / 2, y: r.y, 'text-anchor': 'middle', class: 'gap' }, `⋯ ${secs(r.gap)} later ⋯`));
        continue;
      }
      const e = r.e;
      const fromClient = e.from === 'client';
      const g = el('g', { class: `ev k-${e.kind} from-${e.from}`, 'data-kind': e.kind, 'data-from': e.from, 'data-at': e.at.toFixed(3) });
      const [x1, x2] = fromClient ? [xc, xb] : [xb, xc];
      g.append(el('line', { x1, y1: r.y, x2, y2: r.y, 'marker-end': `url(#ah-${e.from})` }));
      g.append(el('text', { x: 8, y: r.y + 4, class: 't' }, secs(e.at)));
      g.append(el('text', { x: (xc + xb) / 2, y: r.y - 5, 'text-anchor': 'middle', class: 'l' }, e.label));
      const title = el('title', {}, `${secs(e.at)} ${e.from}: ${e.label}`);
      g.append(title);
      svg.append(g);
    }
    return svg;
  }

  function show(id) {
    const c = cells.get(id);
    if (!c) return;
    document.querySelectorAll('#grid td.selected').forEach((td) => td.classList.remove('selected'));
    const td = document.querySelector(`#grid td[data-id="${CSS.escape(id)}"]`);
    if (td) td.classList.add('selected');
    $('detail').hidden = false;
    $('d-title').textContent = id;
    $('d-outcome').textContent = c.text + (c.status === 'changed' ? ' — differs from matrix.toml' : '');
    $('d-expected').textContent = c.expected || 'nothing (no expectation in matrix.toml)';
    $('d-cause').textContent = c.cause;
    document.querySelectorAll('.d-process').forEach((e) => { e.hidden = !c.process; });
    $('d-process').textContent = c.process || '';
    $('d-source').textContent = c.timeline.source === 'wire'
      ? 'What the recording proxy saw on the wire (data frames folded into the packets they carry); times in broker time, from the session\'s time zero as the record keeps it.'
      : 'A built-in client: its control frames as recorded, with its time zero (the broker\'s 101 on WebSocket, CONNACK over TCP) and the end from its verdict; times in broker time.';
    const box = $('timeline');
    box.replaceChildren(draw(c.timeline.events));
    if (location.hash !== '#' + id) history.replaceState(null, '', '#' + id);
  }

  function filter() {
    const col = $('f-column').value, outcome = $('f-outcome').value, changed = $('f-changed').checked;
    document.querySelectorAll('#grid [data-column]').forEach((e) => e.classList.toggle('colhidden', !!col && e.dataset.column !== col));
    let shown = 0;
    document.querySelectorAll('#grid tbody tr').forEach((tr) => {
      let any = false;
      tr.querySelectorAll('td[data-id]').forEach((td) => {
        const match = (!col || td.dataset.column === col) && (!outcome || td.dataset.outcome === outcome) && (!changed || td.dataset.status === 'changed');
        td.classList.toggle('dim', !match);
        if (match) { any = true; shown += 1; }
      });
      tr.hidden = !any;
    });
    $('f-count').textContent = `${shown} of ${cells.size} cells`;
  }

  $('grid').addEventListener('click', (ev) => {
    const td = ev.target.closest('td[data-id]');
    if (td) show(td.dataset.id);
  });
  $('grid').addEventListener('keydown', (ev) => {
    const td = ev.target.closest('td[data-id]');
    if (td && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); show(td.dataset.id); }
  });
  for (const id of ['f-column', 'f-outcome', 'f-changed']) $(id).addEventListener('change', filter);
  filter();
  if (location.hash.length > 1) show(decodeURIComponent(location.hash.slice(1)));
})();
