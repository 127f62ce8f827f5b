/**
 * The web console's CSS and its one small script (served from /assets, since
 * the CSP allows no inline script). Every page works without the script: it
 * only adds Copy buttons, tidier menus and the Delete confirmation dialog.
 */
export const CONSOLE_CSS = `
main.wide { max-width: 76rem; }
.card > h1:first-child, .card > h2:first-child { margin-top: 0; }
nav.settings { display: flex; gap: .25rem; flex-wrap: wrap; border-bottom: 1px solid var(--line); margin: 0 0 1.25rem; }
nav.settings a { padding: .5rem .85rem; text-decoration: none; color: var(--muted); border-bottom: 3px solid transparent; margin-bottom: -1px; }
nav.settings a[aria-current=page] { color: var(--fg); font-weight: 600; border-bottom-color: var(--accent); }
.page-head { display: flex; justify-content: space-between; align-items: flex-start; gap: 1rem; flex-wrap: wrap; }
.page-head h1 { margin: 0; }
.page-head form { margin: 0; }
.limit-reason { margin: .5rem 0 0; font-size: .9rem; }
.flash { border-left: 4px solid var(--ok); }
.flash.error { border-left-color: var(--danger); color: inherit; font-weight: 400; }
.secret-card { border: 2px solid var(--accent); }
.secret-card:focus { outline: none; }
.warning { color: var(--warn); font-weight: 600; }
.copy-row { display: flex; gap: .5rem; align-items: stretch; }
.copy-row input { flex: 1 1 auto; min-width: 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9rem; }
.copy-row button { flex: 0 0 auto; }
ul.key-cards { list-style: none; padding: 0; margin: 0; }
.key-card { position: relative; }
.key-card .key-head { display: flex; justify-content: space-between; align-items: flex-start; gap: .75rem; margin-bottom: .75rem; }
.key-card h2 { margin: 0 0 .5rem; font-size: 1.1rem; overflow-wrap: anywhere; }
.key-card dl.facts { font-size: .95rem; }
details.menu { position: relative; flex: 0 0 auto; }
details.menu > summary { list-style: none; cursor: pointer; padding: .35rem .75rem; border: 1px solid var(--line); border-radius: 6px; font-weight: 600; }
details.menu > summary::-webkit-details-marker { display: none; }
details.menu > summary::after { content: " \\25BE"; }
details.menu > summary:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
details.menu .menu-items { position: absolute; right: 0; top: calc(100% + .25rem); z-index: 10; min-width: 11rem; list-style: none; margin: 0;
  padding: .35rem; background: var(--card); border: 1px solid var(--line); border-radius: 8px; box-shadow: 0 6px 24px rgb(0 0 0 / .15); }
details.menu .menu-items form { margin: 0; }
details.menu .menu-items button, details.menu .menu-items a { display: block; width: 100%; text-align: left; border: 0; border-radius: 4px;
  padding: .45rem .65rem; background: none; font-weight: 500; color: var(--fg); text-decoration: none; }
details.menu .menu-items button:hover, details.menu .menu-items a:hover { background: var(--bg); }
details.menu .menu-items .danger { color: var(--danger); }
details.menu .menu-items .hint { display: block; font-size: .8rem; color: var(--muted); padding: 0 .65rem .35rem; }
dialog.confirm { border: 1px solid var(--line); border-radius: 10px; background: var(--card); color: var(--fg); max-width: min(28rem, 92vw); padding: 1.25rem; }
dialog.confirm::backdrop { background: rgb(0 0 0 / .45); }
dialog.confirm h2 { margin-top: 0; }
button.danger-fill { background: var(--danger); border-color: var(--danger); color: var(--accent-fg); }
pre.snippet { margin: 0; padding: .75rem; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; overflow-x: auto;
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88rem; white-space: pre; }
.snippet-head { display: flex; justify-content: space-between; align-items: center; gap: .5rem; margin: 1rem 0 .35rem; }
.snippet-head h3 { margin: 0; font-size: 1rem; }
.table-scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; background: var(--card); }
.table-scroll:focus-visible { outline: 3px solid var(--accent); }
table.audit { border-collapse: collapse; width: 100%; font-size: .88rem; }
table.audit th, table.audit td { padding: .45rem .6rem; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; vertical-align: top; }
table.audit td.wrap { white-space: normal; overflow-wrap: anywhere; min-width: 7rem; max-width: 15rem; }
table.audit tbody tr:last-child td { border-bottom: 0; }
table.audit th { background: var(--bg); font-weight: 600; }
table.audit td.num, table.audit th.num { text-align: right; font-variant-numeric: tabular-nums; }
@media (max-width: 480px) {
  main { margin: 1rem auto; }
  .card { padding: 1rem; }
  header.top { padding: .5rem 1rem; gap: .25rem; }
  header.top nav { gap: .25rem .75rem; font-size: .9rem; }
  dl.facts { grid-template-columns: 1fr; gap: 0; }
  dl.facts dd { margin-bottom: .4rem; }
}
`;

export const CONSOLE_JS = `'use strict';
(function () {
  var live = document.getElementById('copy-status');

  // Copy buttons: <button data-copy="ID"> copies the value of #ID. Hidden until this script runs.
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    button.hidden = false;
    var label = button.textContent;
    button.addEventListener('click', function () {
      var source = document.getElementById(button.getAttribute('data-copy'));
      if (!source) return;
      var text = source.tagName === 'INPUT' || source.tagName === 'TEXTAREA' ? source.value : source.textContent;
      var done = function () {
        button.textContent = 'Copied';
        if (live) live.textContent = (button.getAttribute('data-copy-name') || 'Value') + ' copied to the clipboard.';
        setTimeout(function () { button.textContent = label; }, 2000);
      };
      var fallback = function () {
        if (source.select) source.select();
        try { if (document.execCommand('copy')) done(); } catch (e) { /* the text stays selected for a manual copy */ }
      };
      if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, fallback);
      else fallback();
    });
  });

  // Menus are <details>: one open at a time, Escape or a click elsewhere closes, focus returns to the toggle.
  var menus = Array.prototype.slice.call(document.querySelectorAll('details.menu'));
  menus.forEach(function (menu) {
    var summary = menu.querySelector('summary');
    if (summary) summary.setAttribute('aria-expanded', String(menu.open));
    menu.addEventListener('toggle', function () {
      if (summary) summary.setAttribute('aria-expanded', String(menu.open));
      if (!menu.open) return;
      menus.forEach(function (other) { if (other !== menu) other.open = false; });
      var first = menu.querySelector('.menu-items button:not([disabled]), .menu-items a');
      if (first) first.focus();
    });
    menu.addEventListener('keydown', function (event) {
      if (event.key === 'Escape' && menu.open) {
        menu.open = false;
        if (summary) summary.focus();
        event.preventDefault();
      }
    });
  });
  document.addEventListener('click', function (event) {
    menus.forEach(function (menu) { if (menu.open && !menu.contains(event.target)) menu.open = false; });
  });

  // A double click on Create must not make two keys.
  document.querySelectorAll('form[data-submit-once]').forEach(function (form) {
    form.addEventListener('submit', function () {
      var button = form.querySelector('button[type=submit]');
      // The button has no name, so disabling it now leaves the submitted fields as they are.
      if (button) button.disabled = true;
    });
  });

  // Delete: open the confirmation <dialog> instead of the confirmation page.
  document.querySelectorAll('a[data-confirm]').forEach(function (link) {
    var dialog = document.getElementById(link.getAttribute('data-confirm'));
    if (!dialog || typeof dialog.showModal !== 'function') return;
    link.addEventListener('click', function (event) {
      event.preventDefault();
      var menu = link.closest('details');
      if (menu) menu.open = false;
      dialog.showModal();
      var cancel = dialog.querySelector('[data-cancel]');
      if (cancel) cancel.focus();
    });
    dialog.addEventListener('close', function () {
      var menu = link.closest('details');
      var summary = menu && menu.querySelector('summary');
      if (summary) summary.focus();
    });
  });
})();
`;
