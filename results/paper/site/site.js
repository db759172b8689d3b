// fmbench site: sortable tables (click a column header) and the leaderboard's filters. No dependencies.
"use strict";

function cellKey(row, index, numeric) {
  const cell = row.cells[index];
  const raw = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent.trim();
  if (!numeric) return raw.toLowerCase();
  const value = parseFloat(raw);
  return Number.isNaN(value) ? null : value;
}

function sortTable(table, index, numeric, ascending) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = cellKey(a, index, numeric);
    const y = cellKey(b, index, numeric);
    if (x === y) return 0;
    if (x === null) return 1; // empty values last either way
    if (y === null) return -1;
    return (x < y ? -1 : 1) * (ascending ? 1 : -1);
  });
  rows.forEach((row) => body.appendChild(row));
}

function makeSortable(table) {
  const headers = Array.from(table.tHead.rows[0].cells);
  headers.forEach((th, index) => {
    th.addEventListener("click", () => {
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      headers.forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      sortTable(table, index, th.dataset.type === "num", ascending);
    });
  });
}

function applyFilters(table, selects) {
  let shown = 0;
  Array.from(table.tBodies[0].rows).forEach((row) => {
    const keep = selects.every((s) => s.value === "" || row.dataset[s.dataset.filter] === s.value);
    row.hidden = !keep;
    shown += keep ? 1 : 0;
  });
  const counter = document.getElementById("shown");
  if (counter) counter.textContent = String(shown);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  const selects = Array.from(document.querySelectorAll("select[data-filter]"));
  const table = document.getElementById("leaderboard");
  if (table && selects.length) {
    selects.forEach((s) => s.addEventListener("change", () => applyFilters(table, selects)));
    applyFilters(table, selects);
  }
});
