/**
 * Operations shared by tests and the bench (bench/operations.ts). The inbox: 30 threads of one
 * source, each with its source, categories, latest 5 contents with author identity and creator
 * agent, and interventions with their agent.
 */
export const INBOX = `query Inbox($source: ID!) {
  threads(first: 30, filter: { sourceIds: [$source] }) {
    totalCount
    nodes {
      id title closed
      source { id name type }
      categories { id name }
      contents(first: 5) {
        totalCount
        nodes { id body createdAt author { id displayName } creator { id displayName } }
      }
      interventions { id status user { id displayName } }
    }
  }
}`;

/** An agent's open interventions, with each thread and its latest contents (the bench's `agent-queue`). */
export const AGENT_QUEUE = `query AgentQueue($agent: ID!) {
  interventions(filter: { userId: $agent, state: OPENED }, first: 30) {
    totalCount
    nodes {
      id status createdAt
      thread {
        id title closed
        source { id name }
        contents(first: 5) { totalCount nodes { id body createdAt author { id displayName } creator { id displayName } } }
      }
    }
  }
}`;
