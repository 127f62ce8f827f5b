import { html } from './html.js';
import { page } from './layout.js';

export function loginPage(options: { csrfToken: string; next: string; email?: string; error?: string }): string {
  return page(
    { title: 'Sign in' },
    html`<div class="card">
  <h1>Sign in to Third Loop</h1>
  ${options.error ? html`<p class="error" role="alert" id="login-error">${options.error}</p>` : ''}
  <form method="post" action="/login">
    <input type="hidden" name="csrf" value="${options.csrfToken}">
    <input type="hidden" name="next" value="${options.next}">
    <label for="email">Email</label>
    <input id="email" name="email" type="email" autocomplete="username" required autofocus value="${options.email ?? ''}">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required>
    <div class="actions"><button type="submit" class="primary">Sign in</button></div>
  </form>
</div>`,
  );
}
