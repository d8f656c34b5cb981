import { useEffect, useState } from 'react';
import type { UiError } from './errors';

/**
 * An error as the README's table says to show it: its message and, when retrying can help
 * (`UiError.retry`), a Retry button that runs the failed operation again; when only the record can
 * tell whether an action was done (`UiError.offerRefresh`), a Refresh button that reads it again.
 * Retry is enabled once `retryAfterMs` has passed since this error was shown (a new error object
 * starts a new wait); while either runs, both are disabled, so one click sends one operation.
 */
export function Problem({
  problem,
  onRetry,
  onRefresh,
  onDismiss,
}: {
  problem: UiError;
  onRetry?: () => Promise<unknown>;
  onRefresh?: () => Promise<unknown>;
  onDismiss?: () => void;
}) {
  const [waiting, setWaiting] = useState(true);
  const [running, setRunning] = useState(false);

  useEffect(() => {
    setWaiting(true);
    const timer = setTimeout(() => setWaiting(false), problem.retryAfterMs ?? 0);
    return () => clearTimeout(timer);
  }, [problem]);

  const run = async (operation: () => Promise<unknown>) => {
    setRunning(true);
    // One that fails again shows its own error through the caller's state (the query's or the banner's).
    await operation().catch(() => undefined);
    setRunning(false);
  };

  return (
    <p className="error" role="alert">
      {problem.message}{' '}
      {problem.retry && onRetry && (
        <button type="button" disabled={waiting || running} onClick={() => void run(onRetry)}>
          Retry
        </button>
      )}{' '}
      {problem.offerRefresh && onRefresh && (
        <button type="button" disabled={running} onClick={() => void run(onRefresh)}>
          Refresh
        </button>
      )}{' '}
      {onDismiss && (
        <button type="button" onClick={onDismiss}>
          Dismiss
        </button>
      )}
    </p>
  );
}
