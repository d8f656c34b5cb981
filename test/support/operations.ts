/**
 * Operations shared by several tests. The inbox: 30 threads of one source, each with its source,
 * categories, latest 5 contents with author identity and creator agent, and interventions with
 * their agent.
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
