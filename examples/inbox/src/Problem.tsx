import { useEffect, useState } from 'react';
import type { UiError } from './errors';

/**
 * An error as the README's table says to show it: its message and, when retrying can help
 * (`UiError.retry`), a Retry button that runs the failed operation again. The button is enabled once
 * `retryAfterMs` has passed since this error was shown (a new error object starts a new wait), and
 * while the retry runs it is disabled again, so one click sends one operation.
 */
export function Problem({
  problem,
  onRetry,
  onDismiss,
}: {
  problem: UiError;
  onRetry?: () => Promise<unknown>;
  onDismiss?: () => void;
}) {
  const [waiting, setWaiting] = useState(true);
  const [retrying, setRetrying] = useState(false);

  useEffect(() => {
    setWaiting(true);
    const timer = setTimeout(() => setWaiting(false), problem.retryAfterMs ?? 0);
    return () => clearTimeout(timer);
  }, [problem]);

  const retry = async () => {
    setRetrying(true);
    // A retry that fails again shows its own error through the caller's state (the query's or the banner's).
    await onRetry?.().catch(() => undefined);
    setRetrying(false);
  };

  return (
    <p className="error" role="alert">
      {problem.message}{' '}
      {problem.retry && onRetry && (
        <button type="button" disabled={waiting || retrying} onClick={() => void retry()}>
          Retry
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
