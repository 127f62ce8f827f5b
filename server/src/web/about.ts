/**
 * Settings > About: the organization's API domain (ANTHROPIC_BASE_URL) and
 * copyable set-up snippets per shell. The credential stays a placeholder:
 * this page never sees a secret.
 */
import { html, type SafeHtml } from './html.js';
import { settingsPage } from './settings.js';

export const CREDENTIAL_PLACEHOLDER = '<api_key_id>;<api_secret_key>';

/** Single-quoted for POSIX shells: nothing inside is special except the quote itself. */
const posixQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** fish single quotes: only \\ and \' are escapes. */
const fishQuote = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
/** PowerShell single quotes: a quote is doubled. */
const psQuote = (s: string) => `'${s.replace(/'/g, "''")}'`;

export interface ShellSnippet {
  id: string;
  label: string;
  text: string;
}

export function setupSnippets(baseUrl: string, credential = CREDENTIAL_PLACEHOLDER): ShellSnippet[] {
  return [
    {
      id: 'snippet-bash',
      label: 'bash / zsh',
      text: `export ANTHROPIC_BASE_URL=${posixQuote(baseUrl)}\nexport ANTHROPIC_API_KEY=${posixQuote(credential)}`,
    },
    {
      id: 'snippet-fish',
      label: 'fish',
      text: `set -gx ANTHROPIC_BASE_URL ${fishQuote(baseUrl)}\nset -gx ANTHROPIC_API_KEY ${fishQuote(credential)}`,
    },
    {
      id: 'snippet-powershell',
      label: 'PowerShell',
      text: `$env:ANTHROPIC_BASE_URL = ${psQuote(baseUrl)}\n$env:ANTHROPIC_API_KEY = ${psQuote(credential)}`,
    },
    {
      // The quotes around the whole assignment keep cmd from reading < > ; & as operators.
      id: 'snippet-cmd',
      label: 'cmd',
      text: `set "ANTHROPIC_BASE_URL=${baseUrl}"\nset "ANTHROPIC_API_KEY=${credential}"`,
    },
  ];
}

export function authOneLiner(baseUrl: string): string {
  // Quoted only when a shell would otherwise read something in it.
  const arg = /^[A-Za-z0-9:/._@%+-]+$/.test(baseUrl) ? baseUrl : posixQuote(baseUrl);
  return `npx thirdloop auth --api-url ${arg}`;
}

function snippetBlock(id: string, label: string, text: string): SafeHtml {
  return html`<div class="snippet-head">
  <h3 id="${id}-label">${label}</h3>
  <button type="button" data-copy="${id}" data-copy-name="${label} snippet" aria-label="Copy the ${label} snippet" hidden>Copy</button>
</div>
<pre class="snippet" id="${id}" aria-labelledby="${id}-label" tabindex="0">${text}</pre>`;
}

export function aboutPage(v: { user: { email: string }; csrfToken: string; baseUrl: string }): string {
  const v1 = `${v.baseUrl.replace(/\/+$/, '')}/v1`;
  return settingsPage(
    { title: 'About', tab: 'about', user: v.user, csrfToken: v.csrfToken },
    html`<h1>About this instance</h1>
<section class="card" aria-labelledby="domain-title">
  <h2 id="domain-title">API domain</h2>
  <p>Point your tools at this address. It is the value of <code>ANTHROPIC_BASE_URL</code>.</p>
  <div class="copy-row">
    <input id="api-domain" type="text" readonly value="${v.baseUrl}" aria-labelledby="domain-title" spellcheck="false">
    <button type="button" data-copy="api-domain" data-copy-name="API domain" aria-label="Copy the API domain" hidden>Copy</button>
  </div>
  <p class="muted">opencode’s <code>baseURL</code> is the same address ending in <code>/v1</code>: <code id="opencode-base-url">${v1}</code></p>
</section>
<section class="card" aria-labelledby="cli-title">
  <h2 id="cli-title">Connect a machine (recommended)</h2>
  <p>Signs in through this browser, stores the key in the OS keychain and remembers this instance:</p>
  ${snippetBlock('snippet-auth', 'One-liner', authOneLiner(v.baseUrl))}
  <p class="muted">Then <code>npx thirdloop setup claude</code> or <code>npx thirdloop setup opencode</code> configures your client.</p>
</section>
<section class="card" aria-labelledby="manual-title">
  <h2 id="manual-title">Set it up by hand</h2>
  <p>Replace <code>${CREDENTIAL_PLACEHOLDER}</code> with the <code>ANTHROPIC_API_KEY</code> value shown when you <a href="/settings/api-keys">created a key</a>.</p>
  ${setupSnippets(v.baseUrl).map((s) => snippetBlock(s.id, s.label, s.text))}
  <p id="copy-status" class="sr-only" role="status" aria-live="polite"></p>
</section>`,
  );
}
