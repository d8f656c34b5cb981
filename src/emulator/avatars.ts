/**
 * Profile pictures of the seeded identities, served by the emulator itself: Engage answers an
 * `avatar_url` that a browser can load, so the emulator's must load too (a dead link is a failed
 * image request on every screen that shows the identity). Each is a small SVG of the person's
 * initials on a colour taken from their id, at `<origin>/_emulator/avatars/<id>.svg`, where the id is
 * an agent's user id or a customer's identity group id; the picture follows the record's name.
 *
 * Generated here rather than with DiceBear's initials style: its packages are ES modules only, and the
 * project (and Jest) load CommonJS.
 */
import { Router } from 'express';
import { notFound } from './errors';
import type { EmulatorStore } from './store';

/** The URL of the picture of `id` (a user or an identity group) on the emulator at `origin`. */
export const avatarUrl = (origin: string, id: string): string => `${origin}/_emulator/avatars/${id}.svg`;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Up to two initials of `name` on a pastel colour derived from `id` (the same id, the same colour). */
export function avatarSvg(name: string, id: string): string {
  const letters = name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((word) => [...word][0]?.toUpperCase() ?? '')
    .join('');
  let hash = 0;
  for (const char of id) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) >>> 0;
  const text = (letters || '?').replace(/[&<>"']/g, (char) => ESCAPES[char]);
  return (
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">' +
    `<rect width="64" height="64" fill="hsl(${hash % 360} 55% 78%)"/>` +
    '<text x="32" y="32" dy=".35em" text-anchor="middle" font-family="system-ui, sans-serif" font-size="26" ' +
    `font-weight="600" fill="#1d2430">${text}</text></svg>`
  );
}

/** `GET /avatars/<id>.svg` (under `/_emulator`): no token, like an image CDN; 404 for an unknown id. */
export function avatarsRouter(store: EmulatorStore): Router {
  const router = Router();
  router.get('/avatars/:id.svg', (req, res) => {
    const { id } = req.params;
    const record = store.users.get(id) ?? store.identityGroups.get(id);
    if (!record) throw notFound('Avatar', id);
    const name = [record.firstname, record.lastname].filter(Boolean).join(' ');
    res.type('image/svg+xml').setHeader('Cache-Control', 'public, max-age=300');
    res.send(avatarSvg(name, id));
  });
  return router;
}
