import { useEffect, useState, type FormEvent } from 'react';
import { seededAgents, type SeededAgent, type Session } from './session';

/** Pick one of the emulator's seeded agents (development) or paste an Engage API token. */
export function SignIn({ onSignIn, notice }: { onSignIn: (session: Session) => void; notice?: string }) {
  const [agents, setAgents] = useState<SeededAgent[] | null>(null);
  const [token, setToken] = useState('');
  const [gatewayUrl, setGatewayUrl] = useState(__GATEWAY_URL__);

  useEffect(() => {
    void seededAgents().then(setAgents);
  }, []);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (token.trim()) onSignIn({ token: token.trim(), gatewayUrl, sourceIds: [] });
  };

  return (
    <main className="sign-in">
      <h1>Engage inbox</h1>
      {notice && <p className="error">{notice}</p>}
      {agents && agents.length > 0 && (
        <section>
          <h2>Sign in as a seeded agent</h2>
          <p className="hint">The embedded emulator's agents (development only).</p>
          <ul className="agents">
            {agents.map((agent) => (
              <li key={agent.id}>
                <button
                  type="button"
                  data-agent-role={agent.role}
                  onClick={() => onSignIn({ token: agent.token, name: agent.name, gatewayUrl, sourceIds: [] })}
                >
                  {agent.name} <span className="badge">{agent.role}</span>{' '}
                  <span className="hint">{agent.sourceIds.length} sources</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      <form onSubmit={submit}>
        <h2>Or paste an Engage API token</h2>
        <input
          aria-label="Token"
          type="password"
          value={token}
          onChange={(event) => setToken(event.target.value)}
          placeholder="Engage access token"
        />
        <label>
          Gateway{' '}
          <input aria-label="Gateway URL" value={gatewayUrl} onChange={(event) => setGatewayUrl(event.target.value)} />
        </label>
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}
