/** The Settings frame shared by API Keys, About and Audit: tabs and date formats. */
import { html, type SafeHtml } from './html.js';
import { page } from './layout.js';

export type SettingsTab = 'api-keys' | 'about' | 'audit' | 'sessions';

const TABS: { id: SettingsTab; href: string; label: string }[] = [
  { id: 'api-keys', href: '/settings/api-keys', label: 'API Keys' },
  { id: 'about', href: '/settings/about', label: 'About' },
  { id: 'audit', href: '/settings/audit', label: 'Audit log' },
  { id: 'sessions', href: '/settings/sessions', label: 'Sessions' },
];

export interface SettingsFrame {
  title: string;
  tab: SettingsTab;
  user: { email: string };
  csrfToken: string;
  wide?: boolean;
}

export function settingsPage(frame: SettingsFrame, body: SafeHtml): string {
  return page(
    { title: `${frame.title} · Settings`, user: frame.user, csrfToken: frame.csrfToken, script: true, wide: frame.wide ?? false },
    html`<nav class="settings" aria-label="Settings">
  ${TABS.map((t) => html`<a href="${t.href}"${t.id === frame.tab ? html` aria-current="page"` : ''}>${t.label}</a>`)}
</nav>
${body}`,
  );
}

/** 2026-11-23 (UTC), in a <time> carrying the full instant. */
export function dateCell(d: Date): SafeHtml {
  return html`<time datetime="${d.toISOString()}">${d.toISOString().slice(0, 10)}</time>`;
}

/** 2026-11-23 20:21 UTC */
export function dateTimeCell(d: Date, seconds = false): SafeHtml {
  const iso = d.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, seconds ? 19 : 16)} UTC</time>`;
}
