/** The few static files the pages use, served locally (the console must work offline). */
import { CONSOLE_CSS, CONSOLE_JS } from './console-assets.js';

export const APP_CSS = `
:root { color-scheme: light dark; --fg: #1b1b1f; --bg: #f6f6f8; --card: #fff; --muted: #5d5d6b; --line: #d9d9e0;
  --accent: #4b3fd1; --accent-fg: #fff; --danger: #b42318; --ok: #067647; --warn: #b54708; }
@media (prefers-color-scheme: dark) { :root { --fg: #ececf1; --bg: #15151a; --card: #1f1f26; --muted: #a0a0ad;
  --line: #34343f; --accent: #8b80ff; --accent-fg: #111; --danger: #f97066; --ok: #47cd89; --warn: #fdb022; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header.top { display: flex; align-items: center; justify-content: space-between; gap: 1rem; padding: .75rem 1.25rem;
  border-bottom: 1px solid var(--line); background: var(--card); flex-wrap: wrap; }
header.top .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
header.top nav { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; }
main { max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1.25rem; margin: 1rem 0; }
form.card > p:first-of-type { margin-top: 0; }
.card strong { overflow-wrap: anywhere; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; } h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
label { display: block; font-weight: 600; margin: .75rem 0 .25rem; }
input[type=text], input[type=email], input[type=password], select { width: 100%; padding: .55rem .65rem; font: inherit;
  border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
button, .button { display: inline-block; padding: .55rem 1rem; font: inherit; font-weight: 600; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--line); background: var(--card); color: var(--fg); text-decoration: none; }
button.primary { background: var(--accent); color: var(--accent-fg); border-color: var(--accent); }
button.danger { color: var(--danger); }
button:disabled { opacity: .5; cursor: not-allowed; }
button:focus-visible, a:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
a { color: var(--accent); }
.link-button { background: none; border: none; padding: 0; color: var(--accent); font-weight: 400; text-decoration: underline; }
.muted { color: var(--muted); } .error { color: var(--danger); font-weight: 600; } .notice { color: var(--warn); }
.actions { display: flex; gap: .75rem; flex-wrap: wrap; margin-top: 1.25rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
h2.reported-title { font-size: 1rem; margin: 1.25rem 0 .25rem; }
dl.facts.reported { border-left: 3px solid var(--warn); padding-left: .75rem; }
code, .code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.one-time-code { font-size: 1.4rem; padding: .75rem; border: 1px dashed var(--line); border-radius: 6px; user-select: all; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 700; border: 1px solid currentColor; }
.badge.active { color: var(--ok); } .badge.suspended { color: var(--warn); } .badge.expired, .badge.compromised { color: var(--danger); }
ul.keys { list-style: none; padding: 0; margin: 0; } ul.keys li { display: flex; justify-content: space-between; align-items: center;
  gap: .75rem; padding: .6rem 0; border-top: 1px solid var(--line); flex-wrap: wrap; }
ul.keys form { display: inline; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

export const ASSETS: Record<string, { type: string; body: string }> = {
  '/assets/app.css': { type: 'text/css; charset=utf-8', body: APP_CSS + CONSOLE_CSS },
  '/assets/console.js': { type: 'text/javascript; charset=utf-8', body: CONSOLE_JS },
};
