/** The signed-in agent, kept in localStorage: a token (picked from the emulator's seeded agents or pasted) and the chosen sources. */
export interface Session {
  token: string;
  /** The agent's name, when picked from the emulator's list. */
  name?: string;
  gatewayUrl: string;
  /** Sources the inbox shows; empty: every source the token reads. */
  sourceIds: string[];
}

const KEY = 'engage-inbox-session';

export function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session | null): void {
  if (session) localStorage.setItem(KEY, JSON.stringify(session));
  else localStorage.removeItem(KEY);
}

/** A seeded agent as the emulator's `GET /_emulator/agents` lists it (development only). */
export interface SeededAgent {
  id: string;
  name: string;
  role: string;
  token: string;
  sourceIds: string[];
}

/** The embedded emulator's seeded agents, through the dev server's `/_emulator` proxy; [] when there is none (a real Engage account). */
export async function seededAgents(): Promise<SeededAgent[]> {
  try {
    const response = await fetch('/_emulator/agents');
    if (!response.ok) return [];
    const agents = (await response.json()) as SeededAgent[];
    return Array.isArray(agents) ? agents : [];
  } catch {
    return [];
  }
}
