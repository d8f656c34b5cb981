import { useState } from 'react';
import { initials } from './format';

/** The customer's picture, or their initials when there is none or it does not load (no internet). */
export function Avatar({ name, url }: { name?: string | null; url?: string | null }) {
  const [failed, setFailed] = useState(false);
  if (url && !failed) return <img className="avatar" src={url} alt="" onError={() => setFailed(true)} />;
  return <span className="avatar initials">{initials(name)}</span>;
}
