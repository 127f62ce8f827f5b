/** The shared page frame: header, the one stylesheet, security headers. */
import { html, type SafeHtml } from './html.js';

export interface PageOptions {
  title: string;
  /** The signed-in user, for the header. */
  user?: { email: string };
  /** Needed for the sign-out form when `user` is set. */
  csrfToken?: string;
  /** Load /assets/console.js (copy buttons, menus, confirm dialogs; the page works without it). */
  script?: boolean;
  /** A wider main column (tables). */
  wide?: boolean;
}

/** No external assets, no inline script, no framing (the consent page must not be clickjacked). */
export function securityHeaders(): Record<string, string> {
  return {
    'content-security-policy':
      "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  };
}

export function page(options: PageOptions, body: SafeHtml): string {
  const nav = options.user
    ? html`<nav aria-label="Account">
        <a href="/settings/api-keys">Settings</a>
        <span class="muted">${options.user.email}</span>
        <form method="post" action="/logout">
          <input type="hidden" name="csrf" value="${options.csrfToken ?? ''}">
          <button type="submit" class="link-button">Sign out</button>
        </form>
      </nav>`
    : html``;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Third Loop</title>
<link rel="stylesheet" href="/assets/app.css">
<link rel="icon" href="data:,">
${options.script ? html`<script src="/assets/console.js" defer></script>` : ''}
</head>
<body>
<header class="top"><a class="brand" href="/settings/api-keys">Third Loop</a>${nav}</header>
<main id="main"${options.wide ? html` class="wide"` : ''}>
${body}
</main>
</body>
</html>
`.value;
}

export function errorPage(status: number, message: string): string {
  const title = status === 404 ? 'Not found' : status === 403 ? 'Forbidden' : status === 429 ? 'Too many requests' : status >= 500 ? 'Something went wrong' : 'Request refused';
  return page({ title }, html`<div class="card"><h1>${title}</h1><p class="error" role="alert">${message}</p><p><a href="/settings/api-keys">Settings</a></p></div>`);
}
