/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  fragment ThreadRow on Thread {\n    id\n    title\n    closed\n    updatedAt\n    contentsCount\n    source {\n      id\n      name\n      type\n    }\n    status\n    lastContentAt\n    customer {\n      id\n      displayName\n      avatarUrl\n    }\n    assignee {\n      id\n      displayName\n    }\n    openIntervention {\n      id\n      status\n    }\n    lastContent {\n      id\n      body\n      createdAt\n      creator {\n        id\n        displayName\n      }\n    }\n    interventions {\n      id\n      status\n      closed\n      createdAt\n      closedAt\n      user {\n        id\n        displayName\n      }\n    }\n  }\n": typeof types.ThreadRowFragmentDoc,
    "\n  query Sources {\n    sources {\n      id\n      name\n      type\n      active\n    }\n    categories {\n      id\n      name\n      unselectable\n    }\n  }\n": typeof types.SourcesDocument,
    "\n  fragment InboxPage on ThreadConnection {\n    edges {\n      cursor\n      node {\n        ...ThreadRow\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n": typeof types.InboxPageFragmentDoc,
    "\n  query Inbox($sourceIds: [ID!], $first: Int = 20, $after: String) {\n    inboxCursor: liveCursor\n    threads(first: $first, after: $after, filter: { sourceIds: $sourceIds }) {\n      totalCount\n      ...InboxPage\n    }\n  }\n": typeof types.InboxDocument,
    "\n  query InboxNextPage($sourceIds: [ID!], $first: Int = 20, $after: String!) {\n    threads(first: $first, after: $after, filter: { sourceIds: $sourceIds }) {\n      ...InboxPage\n    }\n  }\n": typeof types.InboxNextPageDocument,
    "\n  fragment Message on Content {\n    id\n    body\n    createdAt\n    firstInThread\n    isPrivate\n    author {\n      id\n      displayName\n      avatarUrl\n    }\n    creator {\n      id\n      displayName\n    }\n  }\n": typeof types.MessageFragmentDoc,
    "\n  query Thread($id: ID!) {\n    threadCursor: liveCursor\n    thread(id: $id) {\n      ...ThreadRow\n      source {\n        id\n        threadsClosable\n      }\n      customer {\n        id\n        profile {\n          id\n          firstname\n          lastname\n          company\n          emails\n          mobilePhones\n          notes\n          customFieldValues\n          tags {\n            id\n            name\n          }\n        }\n      }\n      threadCategories {\n        id\n        name\n      }\n      contents(first: 100, orderBy: CREATED_AT_ASC) {\n        totalCount\n        nodes {\n          ...Message\n        }\n      }\n    }\n  }\n": typeof types.ThreadDocument,
    "\n  mutation Engage($contentId: ID!, $idempotencyKey: String) {\n    engageContent(contentId: $contentId, idempotencyKey: $idempotencyKey) {\n      id\n      status\n      closed\n      user {\n        id\n        displayName\n      }\n    }\n  }\n": typeof types.EngageDocument,
    "\n  mutation Reply($input: ReplyInput!) {\n    replyToContent(input: $input) {\n      ...Message\n    }\n  }\n": typeof types.ReplyDocument,
    "\n  mutation CloseThread($id: ID!, $idempotencyKey: String) {\n    closeThread(id: $id, idempotencyKey: $idempotencyKey) {\n      ...ThreadRow\n    }\n  }\n": typeof types.CloseThreadDocument,
    "\n  mutation CloseIntervention($id: ID!, $idempotencyKey: String) {\n    closeIntervention(id: $id, idempotencyKey: $idempotencyKey) {\n      id\n      status\n      closed\n    }\n  }\n": typeof types.CloseInterventionDocument,
    "\n  mutation Transfer($threadId: ID!, $categoryIds: [ID!]!, $interventionId: ID, $idempotencyKey: String) {\n    transferToHuman(\n      threadId: $threadId\n      categoryIds: $categoryIds\n      interventionId: $interventionId\n      idempotencyKey: $idempotencyKey\n    ) {\n      agentAvailable\n      availableAgents {\n        agentId\n        agent {\n          id\n          displayName\n        }\n      }\n      thread {\n        id\n        threadCategories {\n          id\n          name\n        }\n      }\n    }\n  }\n": typeof types.TransferDocument,
    "\n  subscription NewThreads($sourceIds: [ID!], $after: String) {\n    newThread(sourceIds: $sourceIds, after: $after) {\n      id\n      cursor\n      thread {\n        ...ThreadRow\n      }\n    }\n  }\n": typeof types.NewThreadsDocument,
    "\n  subscription ContentAdded($sourceIds: [ID!], $after: String) {\n    contentAdded(sourceIds: $sourceIds, after: $after) {\n      id\n      cursor\n      content {\n        ...Message\n      }\n      thread {\n        ...ThreadRow\n      }\n    }\n  }\n": typeof types.ContentAddedDocument,
    "\n  subscription ThreadStates($sourceIds: [ID!], $after: String) {\n    threadStateChanged(sourceIds: $sourceIds, changes: [CLOSED, AUTO_CLOSED, OPENED], after: $after) {\n      id\n      cursor\n      change\n      thread {\n        ...ThreadRow\n      }\n    }\n  }\n": typeof types.ThreadStatesDocument,
};
const documents: Documents = {
    "\n  fragment ThreadRow on Thread {\n    id\n    title\n    closed\n    updatedAt\n    contentsCount\n    source {\n      id\n      name\n      type\n    }\n    status\n    lastContentAt\n    customer {\n      id\n      displayName\n      avatarUrl\n    }\n    assignee {\n      id\n      displayName\n    }\n    openIntervention {\n      id\n      status\n    }\n    lastContent {\n      id\n      body\n      createdAt\n      creator {\n        id\n        displayName\n      }\n    }\n    interventions {\n      id\n      status\n      closed\n      createdAt\n      closedAt\n      user {\n        id\n        displayName\n      }\n    }\n  }\n": types.ThreadRowFragmentDoc,
    "\n  query Sources {\n    sources {\n      id\n      name\n      type\n      active\n    }\n    categories {\n      id\n      name\n      unselectable\n    }\n  }\n": types.SourcesDocument,
    "\n  fragment InboxPage on ThreadConnection {\n    edges {\n      cursor\n      node {\n        ...ThreadRow\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n": types.InboxPageFragmentDoc,
    "\n  query Inbox($sourceIds: [ID!], $first: Int = 20, $after: String) {\n    inboxCursor: liveCursor\n    threads(first: $first, after: $after, filter: { sourceIds: $sourceIds }) {\n      totalCount\n      ...InboxPage\n    }\n  }\n": types.InboxDocument,
    "\n  query InboxNextPage($sourceIds: [ID!], $first: Int = 20, $after: String!) {\n    threads(first: $first, after: $after, filter: { sourceIds: $sourceIds }) {\n      ...InboxPage\n    }\n  }\n": types.InboxNextPageDocument,
    "\n  fragment Message on Content {\n    id\n    body\n    createdAt\n    firstInThread\n    isPrivate\n    author {\n      id\n      displayName\n      avatarUrl\n    }\n    creator {\n      id\n      displayName\n    }\n  }\n": types.MessageFragmentDoc,
    "\n  query Thread($id: ID!) {\n    threadCursor: liveCursor\n    thread(id: $id) {\n      ...ThreadRow\n      source {\n        id\n        threadsClosable\n      }\n      customer {\n        id\n        profile {\n          id\n          firstname\n          lastname\n          company\n          emails\n          mobilePhones\n          notes\n          customFieldValues\n          tags {\n            id\n            name\n          }\n        }\n      }\n      threadCategories {\n        id\n        name\n      }\n      contents(first: 100, orderBy: CREATED_AT_ASC) {\n        totalCount\n        nodes {\n          ...Message\n        }\n      }\n    }\n  }\n": types.ThreadDocument,
    "\n  mutation Engage($contentId: ID!, $idempotencyKey: String) {\n    engageContent(contentId: $contentId, idempotencyKey: $idempotencyKey) {\n      id\n      status\n      closed\n      user {\n        id\n        displayName\n      }\n    }\n  }\n": types.EngageDocument,
    "\n  mutation Reply($input: ReplyInput!) {\n    replyToContent(input: $input) {\n      ...Message\n    }\n  }\n": types.ReplyDocument,
    "\n  mutation CloseThread($id: ID!, $idempotencyKey: String) {\n    closeThread(id: $id, idempotencyKey: $idempotencyKey) {\n      ...ThreadRow\n    }\n  }\n": types.CloseThreadDocument,
    "\n  mutation CloseIntervention($id: ID!, $idempotencyKey: String) {\n    closeIntervention(id: $id, idempotencyKey: $idempotencyKey) {\n      id\n      status\n      closed\n    }\n  }\n": types.CloseInterventionDocument,
    "\n  mutation Transfer($threadId: ID!, $categoryIds: [ID!]!, $interventionId: ID, $idempotencyKey: String) {\n    transferToHuman(\n      threadId: $threadId\n      categoryIds: $categoryIds\n      interventionId: $interventionId\n      idempotencyKey: $idempotencyKey\n    ) {\n      agentAvailable\n      availableAgents {\n        agentId\n        agent {\n          id\n          displayName\n        }\n      }\n      thread {\n        id\n        threadCategories {\n          id\n          name\n        }\n      }\n    }\n  }\n": types.TransferDocument,
    "\n  subscription NewThreads($sourceIds: [ID!], $after: String) {\n    newThread(sourceIds: $sourceIds, after: $after) {\n      id\n      cursor\n      thread {\n        ...ThreadRow\n      }\n    }\n  }\n": types.NewThreadsDocument,
    "\n  subscription ContentAdded($sourceIds: [ID!], $after: String) {\n    contentAdded(sourceIds: $sourceIds, after: $after) {\n      id\n      cursor\n      content {\n        ...Message\n      }\n      thread {\n        ...ThreadRow\n      }\n    }\n  }\n": types.ContentAddedDocument,
    "\n  subscription ThreadStates($sourceIds: [ID!], $after: String) {\n    threadStateChanged(sourceIds: $sourceIds, changes: [CLOSED, AUTO_CLOSED, OPENED], after: $after) {\n      id\n      cursor\n      change\n      thread {\n        ...ThreadRow\n      }\n    }\n  }\n": types.ThreadStatesDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ThreadRow on Thread {\n    id\n    title\n    closed\n    updatedAt\n    contentsCount\n    source {\n      id\n      name\n      type\n    }\n    status\n    lastContentAt\n    customer {\n      id\n      displayName\n      avatarUrl\n    }\n    assignee {\n      id\n      displayName\n    }\n    openIntervention {\n      id\n      status\n    }\n    lastContent {\n      id\n      body\n      createdAt\n      creator {\n        id\n        displayName\n      }\n    }\n    interventions {\n      id\n      status\n      closed\n      createdAt\n      closedAt\n      user {\n        id\n        displayName\n      }\n    }\n  }\n"): (typeof documents)["\n  fragment ThreadRow on Thread {\n    id\n    title\n    closed\n    updatedAt\n    contentsCount\n    source {\n      id\n      name\n      type\n    }\n    status\n    lastContentAt\n    customer {\n      id\n      displayName\n      avatarUrl\n    }\n    assignee {\n      id\n      displayName\n    }\n    openIntervention {\n      id\n      status\n    }\n    lastContent {\n      id\n      body\n      createdAt\n      creator {\n        id\n        displayName\n      }\n    }\n    interventions {\n      id\n      status\n      closed\n      createdAt\n      closedAt\n      user {\n        id\n        displayName\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Sources {\n    sources {\n      id\n      name\n      type\n      active\n    }\n    categories {\n      id\n      name\n      unselectable\n    }\n  }\n"): (typeof documents)["\n  query Sources {\n    sources {\n      id\n      name\n      type\n      active\n    }\n    categories {\n      id\n      name\n      unselectable\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment InboxPage on ThreadConnection {\n    edges {\n      cursor\n      node {\n        ...ThreadRow\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n"): (typeof documents)["\n  fragment InboxPage on ThreadConnection {\n    edges {\n      cursor\n      node {\n        ...ThreadRow\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Inbox($sourceIds: [ID!], $first: Int = 20, $after: String) {\n    inboxCursor: liveCursor\n    threads(first: $first, after: $after, filter: { sourceIds: $sourceIds }) {\n      totalCount\n      ...InboxPage\n    }\n  }\n"): (typeof documents)["\n  query Inbox($sourceIds: [ID!], $first: Int = 20, $after: String) {\n    inboxCursor: liveCursor\n    threads(first: $first, after: $after, filter: { sourceIds: $sourceIds }) {\n      totalCount\n      ...InboxPage\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query InboxNextPage($sourceIds: [ID!], $first: Int = 20, $after: String!) {\n    threads(first: $first, after: $after, filter: { sourceIds: $sourceIds }) {\n      ...InboxPage\n    }\n  }\n"): (typeof documents)["\n  query InboxNextPage($sourceIds: [ID!], $first: Int = 20, $after: String!) {\n    threads(first: $first, after: $after, filter: { sourceIds: $sourceIds }) {\n      ...InboxPage\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment Message on Content {\n    id\n    body\n    createdAt\n    firstInThread\n    isPrivate\n    author {\n      id\n      displayName\n      avatarUrl\n    }\n    creator {\n      id\n      displayName\n    }\n  }\n"): (typeof documents)["\n  fragment Message on Content {\n    id\n    body\n    createdAt\n    firstInThread\n    isPrivate\n    author {\n      id\n      displayName\n      avatarUrl\n    }\n    creator {\n      id\n      displayName\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Thread($id: ID!) {\n    threadCursor: liveCursor\n    thread(id: $id) {\n      ...ThreadRow\n      source {\n        id\n        threadsClosable\n      }\n      customer {\n        id\n        profile {\n          id\n          firstname\n          lastname\n          company\n          emails\n          mobilePhones\n          notes\n          customFieldValues\n          tags {\n            id\n            name\n          }\n        }\n      }\n      threadCategories {\n        id\n        name\n      }\n      contents(first: 100, orderBy: CREATED_AT_ASC) {\n        totalCount\n        nodes {\n          ...Message\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query Thread($id: ID!) {\n    threadCursor: liveCursor\n    thread(id: $id) {\n      ...ThreadRow\n      source {\n        id\n        threadsClosable\n      }\n      customer {\n        id\n        profile {\n          id\n          firstname\n          lastname\n          company\n          emails\n          mobilePhones\n          notes\n          customFieldValues\n          tags {\n            id\n            name\n          }\n        }\n      }\n      threadCategories {\n        id\n        name\n      }\n      contents(first: 100, orderBy: CREATED_AT_ASC) {\n        totalCount\n        nodes {\n          ...Message\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Engage($contentId: ID!, $idempotencyKey: String) {\n    engageContent(contentId: $contentId, idempotencyKey: $idempotencyKey) {\n      id\n      status\n      closed\n      user {\n        id\n        displayName\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation Engage($contentId: ID!, $idempotencyKey: String) {\n    engageContent(contentId: $contentId, idempotencyKey: $idempotencyKey) {\n      id\n      status\n      closed\n      user {\n        id\n        displayName\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Reply($input: ReplyInput!) {\n    replyToContent(input: $input) {\n      ...Message\n    }\n  }\n"): (typeof documents)["\n  mutation Reply($input: ReplyInput!) {\n    replyToContent(input: $input) {\n      ...Message\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CloseThread($id: ID!, $idempotencyKey: String) {\n    closeThread(id: $id, idempotencyKey: $idempotencyKey) {\n      ...ThreadRow\n    }\n  }\n"): (typeof documents)["\n  mutation CloseThread($id: ID!, $idempotencyKey: String) {\n    closeThread(id: $id, idempotencyKey: $idempotencyKey) {\n      ...ThreadRow\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CloseIntervention($id: ID!, $idempotencyKey: String) {\n    closeIntervention(id: $id, idempotencyKey: $idempotencyKey) {\n      id\n      status\n      closed\n    }\n  }\n"): (typeof documents)["\n  mutation CloseIntervention($id: ID!, $idempotencyKey: String) {\n    closeIntervention(id: $id, idempotencyKey: $idempotencyKey) {\n      id\n      status\n      closed\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Transfer($threadId: ID!, $categoryIds: [ID!]!, $interventionId: ID, $idempotencyKey: String) {\n    transferToHuman(\n      threadId: $threadId\n      categoryIds: $categoryIds\n      interventionId: $interventionId\n      idempotencyKey: $idempotencyKey\n    ) {\n      agentAvailable\n      availableAgents {\n        agentId\n        agent {\n          id\n          displayName\n        }\n      }\n      thread {\n        id\n        threadCategories {\n          id\n          name\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation Transfer($threadId: ID!, $categoryIds: [ID!]!, $interventionId: ID, $idempotencyKey: String) {\n    transferToHuman(\n      threadId: $threadId\n      categoryIds: $categoryIds\n      interventionId: $interventionId\n      idempotencyKey: $idempotencyKey\n    ) {\n      agentAvailable\n      availableAgents {\n        agentId\n        agent {\n          id\n          displayName\n        }\n      }\n      thread {\n        id\n        threadCategories {\n          id\n          name\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription NewThreads($sourceIds: [ID!], $after: String) {\n    newThread(sourceIds: $sourceIds, after: $after) {\n      id\n      cursor\n      thread {\n        ...ThreadRow\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription NewThreads($sourceIds: [ID!], $after: String) {\n    newThread(sourceIds: $sourceIds, after: $after) {\n      id\n      cursor\n      thread {\n        ...ThreadRow\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ContentAdded($sourceIds: [ID!], $after: String) {\n    contentAdded(sourceIds: $sourceIds, after: $after) {\n      id\n      cursor\n      content {\n        ...Message\n      }\n      thread {\n        ...ThreadRow\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription ContentAdded($sourceIds: [ID!], $after: String) {\n    contentAdded(sourceIds: $sourceIds, after: $after) {\n      id\n      cursor\n      content {\n        ...Message\n      }\n      thread {\n        ...ThreadRow\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ThreadStates($sourceIds: [ID!], $after: String) {\n    threadStateChanged(sourceIds: $sourceIds, changes: [CLOSED, AUTO_CLOSED, OPENED], after: $after) {\n      id\n      cursor\n      change\n      thread {\n        ...ThreadRow\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription ThreadStates($sourceIds: [ID!], $after: String) {\n    threadStateChanged(sourceIds: $sourceIds, changes: [CLOSED, AUTO_CLOSED, OPENED], after: $after) {\n      id\n      cursor\n      change\n      thread {\n        ...ThreadRow\n      }\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;