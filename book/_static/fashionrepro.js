/* Table cells break lines between words only (fashionrepro.css). A table that cannot fit the content
   column so (a phone, a table of long identifiers or prose) gets one width limit for its widest
   columns, as high as still fits: the cells of those columns get the class "squeezed" and the limit
   as their width, and only their words longer than the limit break. Done on load, on resize and when
   a "More columns" block opens; tests/test_browser.py checks that a table is squeezed only when it
   does not fit with whole words. */
(() => {
  // The width the table may take: up to the content edge of every box that holds it, the article too.
  const room = (table) => {
    const left = table.getBoundingClientRect().left;
    let width = Infinity;
    for (let box = table.parentElement; box; box = box.parentElement) {
      const edge = box.getBoundingClientRect().left + box.clientLeft + box.clientWidth
                   - parseFloat(getComputedStyle(box).paddingRight);
      width = Math.min(width, edge - left);
      if (box.tagName === 'ARTICLE') break;
    }
    return width;
  };

  // The largest limit c with sum(min(need[k], c)) <= width; 0 when every column fits whole.
  const limitFor = (need, width) => {
    const sorted = [...need].sort((a, b) => a - b);
    let below = 0;
    for (let i = 0; i < sorted.length; i++) {
      const c = (width - below) / (sorted.length - i);
      if (c < sorted[i]) return c;
      below += sorted[i];
    }
    return 0;
  };

  const squeeze = (table) => {
    table.querySelectorAll('.squeezed').forEach((cell) => {
      cell.classList.remove('squeezed');
      cell.style.width = '';
    });
    if (!table.getClientRects().length) return;  // in a closed "More columns" block
    const width = room(table);
    if (table.getBoundingClientRect().width <= width + 1) return;
    const rows = Array.from(table.rows);
    const n = Math.max(...rows.map((r) => r.cells.length));
    const full = rows.filter((r) => r.cells.length === n).pop();  // a row with a cell in every column
    if (!full) return;
    const need = Array.from(full.cells, (cell) => cell.getBoundingClientRect().width);
    let limit = limitFor(need, width);
    for (let tries = 0; limit > 0 && tries < 3; tries++) {
      const wide = need.map((w, k) => (w > limit ? k : -1)).filter((k) => k >= 0);
      for (const row of rows) {
        if (row.cells.length !== n) continue;
        for (const k of wide) {
          row.cells[k].classList.add('squeezed');
          row.cells[k].style.width = `${Math.floor(limit)}px`;
        }
      }
      const over = table.getBoundingClientRect().width - width;
      if (over <= 1) break;
      limit -= over / wide.length;
    }
  };

  const squeezeAll = () => document.querySelectorAll('.bd-article table').forEach(squeeze);
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', squeezeAll);
  else squeezeAll();
  window.addEventListener('resize', squeezeAll);
  document.addEventListener('toggle', squeezeAll, true);  // a "More columns" block opened or closed
})();
