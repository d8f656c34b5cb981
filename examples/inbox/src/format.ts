import { useEffect, useReducer } from 'react';

/** How often a view showing relative times renders again. */
const RELATIVE_TIMES_EVERY_MS = 30_000;

/**
 * Renders the component again every 30 s, so that its relative times (`ago`, which reads the clock
 * as it renders) move on: without it, "just now" stayed so until something else rendered the view
 * again, which in a quiet inbox could be hours later.
 */
export function useRelativeTimes(): void {
  const [, renderAgain] = useReducer((renders: number) => renders + 1, 0);
  useEffect(() => {
    const timer = setInterval(renderAgain, RELATIVE_TIMES_EVERY_MS);
    return () => clearInterval(timer);
  }, []);
}

/** Relative time for lists ("5 min ago"), absolute in the title attribute. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (seconds < 60) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function initials(name: string | null | undefined): string {
  return (name ?? '?')
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((word) => word[0]?.toUpperCase())
    .join('');
}
