/**
 * Operation limits, checked before execution on HTTP and WebSocket alike, so that an operation
 * over a limit costs zero REST calls:
 *
 * | limit      | what is counted                                                              | checked by                            |
 * |------------|------------------------------------------------------------------------------|---------------------------------------|
 * | tokens     | lexical tokens of the document                                               | graphql-js `parse({ maxTokens })`     |
 * | depth      | nesting of fields (fragments flattened, introspection ignored)               | graphql-armor max-depth rule          |
 * | aliases    | aliases in the operation                                                     | graphql-armor max-aliases rule        |
 * | directives | directives in the operation                                                  | graphql-armor max-directives rule     |
 * | cost       | objects the operation may resolve: page sizes multiplied down the tree, and what a thread's status, customer... read (THREAD_READS) | graphql-query-complexity estimator |
 * | restCalls  | REST calls no loader can batch (one per parent) times the parents, plus one per root field | graphql-query-complexity estimator |
 * | fragmentSpreads, repeatedFields | fragment spreads; most fields under one name in one selection set | src/edge/document-shape.ts, before graphql-js's rules look at the document |
 * | answerBytes | the answer's length as JSON, after execution and before it is serialised (the one limit checked after the work: what the estimates cannot know is how long Engage's texts are) | src/edge/answer-size.ts, in `useOperationLimits` and the WebSocket transport |
 *
 * graphql-armor's rules are the maintained, Apollo-ready versions of depth/alias/directive limits;
 * its own cost rule weighs fields by depth and cannot multiply by `first`, which is what makes a
 * nested page blow up, so the estimate uses graphql-query-complexity, whose estimators see each
 * field's arguments (variables applied) and its children's total. graphql-cost-analysis does the
 * same but has not been released since 2018.
 *
 * The cost needs the operation's variables (`first: $n`), so it is not a validation rule: both
 * transports call `checkCost` once the document is valid and the variables are known.
 *
 * Every refusal is a GraphQL error with `extensions.code` `OPERATION_TOO_COMPLEX`,
 * `extensions.limit` (the name in the table) and `extensions.max`. Before any of them, and whether
 * they are on or not, a document nested more than 500 deep is refused unparsed, as a parse error
 * (src/edge/document-shape.ts `nestedTooDeeply`).
 *
 * The cost estimate, which sees every field with its arguments, also refuses a connection's `first`
 * or `after` that no data makes valid, once for the operation and before the limits, with the
 * error the field's resolver would throw (BAD_USER_INPUT, `extensions.argumentName`;
 * src/resolvers/connection-args.ts): inside a list the resolver threw it once per item, 2,250
 * errors and some 200 ms of CPU for 15 aliases under 150 threads.
 */
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import {
  getNamedType,
  getOperationAST,
  GraphQLError,
  isLeafType,
  isListType,
  isNonNullType,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type GraphQLType,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';
import { LRUCache } from 'lru-cache';
import stableStringify from 'safe-stable-stringify';
import type { ApolloServerPlugin } from '@apollo/server';
import { answerLength } from './answer-size';
import { documentShapeRule } from './document-shape';
import { oversizedJson } from './documents';
import { definedOnly } from '../config';
import { MAX_LIMIT } from '../engage/vocabulary';
import { connectionArgumentError } from '../resolvers/connection-args';

export const OPERATION_TOO_COMPLEX = 'OPERATION_TOO_COMPLEX';

export type LimitName =
  | 'tokens'
  | 'depth'
  | 'aliases'
  | 'directives'
  | 'cost'
  | 'restCalls'
  | 'fragmentSpreads'
  | 'repeatedFields'
  | 'answerBytes';

export interface OperationLimits {
  maxTokens: number;
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
  maxCost: number;
  maxRestCalls: number;
  /** Items assumed in a list that has no `first` argument (a thread's interventions, `users`). */
  assumedListSize: number;
  /** Fragment spreads in the document (src/edge/document-shape.ts). */
  maxFragmentSpreads: number;
  /** Fields answering under one name in one selection set, fragments merged (src/edge/document-shape.ts). */
  maxRepeatedFields: number;
  /** An answer's length as JSON, about (src/edge/answer-size.ts); past it the answer is refused, not sent. */
  maxAnswerBytes: number;
}

/**
 * What `__schema` costs (the whole schema; the fields under it nothing more): some 120 KB answered
 * in about 25 ms of CPU, where a cached inbox (cost 900) takes 3-5 ms. Counted as nothing, 15 aliases
 * of it were 1.8 MB and 380 ms of CPU for one operation. Half the default limit: two per operation,
 * and one within any limit (it never costs more than the limit).
 */
const INTROSPECTION_COST = 2_500;

/**
 * The defaults, measured against the operations the project documents (README, tests, bench,
 * the example bot): the largest of them, the tests' inbox (30 threads with 5 contents each),
 * costs 901 and depth 6; the thread view costs 266 at depth 7; none uses an alias, a
 * directive or a per-parent relation. See test/edge/limits.test.ts for the figures.
 */
export const DEFAULT_LIMITS: OperationLimits = {
  // Sandbox's introspection query is about 300 tokens; clients with large fragments stay well below.
  maxTokens: 3_000,
  // 7 for the deepest documented operation; room for fragments-heavy clients, not for recursion.
  maxDepth: 12,
  maxAliases: 15,
  maxDirectives: 20,
  // 5x the tests' inbox; `threads(first: 150) { nodes { contents(first: 30) { nodes { id } } } }` fits.
  maxCost: 5_000,
  // A tenth of Engage's default quota of 500 calls per minute, for one operation.
  maxRestCalls: 50,
  assumedListSize: 10,
  // graphql-js's introspection query spreads 8. graphql-js's validation of 50 spreads of one root
  // field took 4-45 ms on a busy 2-core machine, of 225 spreads 120-260 ms (src/edge/document-shape.ts).
  maxFragmentSpreads: 50,
  // Above the spreads (clients add `__typename` to each fragment); 60 copies of a field with a
  // subselection validated in 4-45 ms, 240 copies in 120-210 ms.
  maxRepeatedFields: 60,
  // 150 threads of 30 contents with every field, bodies of 2 KB, is some 12 MB; the inbox 30-60 KB.
  maxAnswerBytes: 16 * 1024 * 1024,
};

/**
 * Relations that cost one REST call per parent (no Engage endpoint lists them for many parents):
 * `restCalls` counts each instance, and `cost` weighs each call like `REST_CALL_WEIGHT` objects.
 */
export const PER_PARENT_RELATIONS: ReadonlySet<string> = new Set([
  'Identity.threads',
  'Identity.interventions',
  'IdentityGroup.threads',
  'User.interventions',
  // Engage lists identities by one agent at a time (`identities?user_id=`).
  'User.identities',
  'Source.threads',
  // A thread, an intervention by id: single GETs (Engage has no multi-id read), deduplicated.
  'Content.thread',
  'Content.intervention',
  'Intervention.thread',
]);
const REST_CALL_WEIGHT = 50;

/**
 * Thread fields whose records' `thread` is that thread, already loaded: their `thread` costs no
 * call, and is not counted as one (a root `contents` search's `thread`, one GET per distinct
 * thread, is). The value is the path from the field to its records (a connection's `nodes`).
 */
const BACK_TO_THREAD: ReadonlyMap<string, ReadonlyArray<readonly string[]>> = new Map([
  ['contents', [['nodes'], ['edges', 'node']]],
  ['interventions', [[]]],
  ['lastContent', [[]]],
  ['openIntervention', [[]]],
]);

/**
 * Thread fields that read a list of the thread's records without selecting it: its newest contents
 * (up to Engage's page of 150; src/resolvers/thread-reads.ts) or its interventions. `cost` counts
 * that read as a list without `first` (`assumedListSize` objects), once per thread whichever of
 * them are selected: they share it. Counted as leaves, 15 pages of 150 threads' `status` and
 * `customer` cost 4,515 and read 2,250 threads' contents, past the operation's REST budget.
 */
export const THREAD_READS: ReadonlySet<string> = new Set([
  'status',
  'lastContentAt',
  'lastContent',
  'customer',
  'openIntervention',
  'assignee',
]);

/** Whether `selectionSet` (on a thread) selects a field of THREAD_READS, in its fragments too. */
function readsThread(
  selectionSet: SelectionSetNode | undefined,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  seen = new Set<string>(),
): boolean {
  for (const selection of selectionSet?.selections ?? []) {
    if (selection.kind === Kind.FIELD) {
      if (THREAD_READS.has(selection.name.value)) return true;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (readsThread(selection.selectionSet, fragments, seen)) return true;
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      if (readsThread(fragments.get(selection.name.value)?.selectionSet, fragments, seen)) return true;
    }
  }
  return false;
}

/**
 * The fields named `name` that `selectionSet` selects, through its fragments, each as many times as
 * the estimate counts it (each alias, each spread). A selection under a directive is left out: the
 * estimate counts it only when its condition holds, and leaving it out only overestimates.
 */
function selected(
  selectionSet: SelectionSetNode | undefined,
  name: string,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  spreading: readonly string[] = [],
): FieldNode[] {
  const found: FieldNode[] = [];
  for (const selection of selectionSet?.selections ?? []) {
    if (selection.directives?.length) continue;
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value === name) found.push(selection);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      found.push(...selected(selection.selectionSet, name, fragments, spreading));
    } else if (!spreading.includes(selection.name.value)) {
      const fragment = fragments.get(selection.name.value);
      found.push(...selected(fragment?.selectionSet, name, fragments, [...spreading, selection.name.value]));
    }
  }
  return found;
}

/** How many times a Thread field (`BACK_TO_THREAD`) selects its records' `name` (`thread`), per record. */
function backToThread(
  field: FieldNode,
  paths: ReadonlyArray<readonly string[]>,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  name = 'thread',
): number {
  let count = 0;
  for (const path of paths) {
    let level = [field];
    for (const step of path) level = level.flatMap((node) => selected(node.selectionSet, step, fragments));
    for (const records of level) count += selected(records.selectionSet, name, fragments).length;
  }
  return count;
}

/**
 * A thread's contents' `intervention`: one of the thread's interventions, read in one list for the
 * thread (src/resolvers/thread-reads.ts `interventionOf`), not a GET per content. Per content, the
 * selections of it that the estimate counted as calls, and whether the thread then reads its list.
 */
function contentsInterventions(
  field: FieldNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
): { perRecord: number; list: number } {
  if (field.name.value !== 'contents') return { perRecord: 0, list: 0 };
  const perRecord = backToThread(field, BACK_TO_THREAD.get('contents')!, fragments, 'intervention');
  return { perRecord, list: perRecord > 0 ? 1 : 0 };
}

/**
 * Variables nested deeper are refused (BAD_USER_INPUT) before anything reads them: the walks that
 * follow are recursive, and `JSON.parse` accepts a value nested a hundred thousand levels deep.
 */
export const MAX_VARIABLE_DEPTH = 64;
/**
 * Variables holding more values (list items and object properties, at every level) are refused as
 * well: 30,000 ids cost 90 to 500 ms of CPU (their coercion, the estimate, a filter's query) before
 * Engage's URL limit refused them. No operation needs more: an Engage URL holds about 230 ids.
 */
export const MAX_VARIABLE_VALUES = 2_000;
/** Cost verdicts kept, and the characters they may hold (keys and error messages). */
const VERDICTS = 10_000;
const VERDICT_CACHE_SIZE = 4 * 1024 * 1024;
/** Verdicts whose variables serialise longer than this are not kept. */
const MAX_VERDICT_KEY = 1024;
/**
 * What an operation's verdict costs when it is not kept, in cost units per character of its
 * document (`Limits.check`'s `charged`): the estimate walks the document, and a document not seen
 * before was also parsed, validated and compiled. Uncharged, one caller sending a new 8,000-character
 * document of `first: 0` fields (estimated 1) with each request took a core at 46 a second: 23 ms
 * of CPU each, against 2.8 ms for the same document known; with a variable over 1 KiB, so that its
 * verdict is never kept, 14.7 ms. At 0.4 and 0.3 such a document counts some 6 operations new and 4
 * estimated again, as the CPU it takes; an inbox's (1,500 characters) one more, once.
 */
const ESTIMATE_COST_PER_CHARACTER = 0.4;
const NEW_DOCUMENT_COST_PER_CHARACTER = 0.3;

export function tooComplex(limit: LimitName, max: number, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: OPERATION_TOO_COMPLEX, limit, max } });
}

/** Reports armor's rejections as our errors (armor's own message names the limit and the count found). */
function armored(limit: LimitName, max: number, rule: (context: ValidationContext) => unknown): ValidationRule {
  return (context) => {
    const wrapped = Object.create(context) as ValidationContext;
    wrapped.reportError = (error: GraphQLError) =>
      context.reportError(tooComplex(limit, max, error.message.replace(/^Syntax Error: /, 'Operation too complex: ')));
    return rule(wrapped) as ReturnType<ValidationRule>;
  };
}

/** What the estimators share over one estimate. */
interface EstimateContext {
  fragments: ReadonlyMap<string, FragmentDefinitionNode>;
  /** The first connection argument no data makes valid (`connectionArgumentError`), at its field. */
  refused?: GraphQLError;
}

function listOf(type: GraphQLType): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}

export interface Limits {
  readonly limits: OperationLimits;
  /** For `parse(query, parseOptions)`. */
  readonly parseOptions: { maxTokens: number };
  /** Depth, aliases and directives: run with graphql's specified rules. */
  readonly validationRules: readonly ValidationRule[];
  /** The cost and REST-call estimates of a valid operation; null when within the limits. */
  checkCost(args: {
    document: DocumentNode;
    operationName?: string | null;
    variables?: Record<string, unknown> | null;
  }): GraphQLError | null;
  /**
   * `checkCost`'s verdict and the estimated cost it was made on (0 when none could be made); and
   * what the caller's rate charges: the cost, plus, when the verdict was not kept, what the estimate
   * (and, for a document not seen before, its parse, validation and compile) took.
   */
  check(args: Parameters<Limits['checkCost']>[0]): { error: GraphQLError | null; cost: number; charged: number };
  /** Characters the cost verdicts kept hold (tests). */
  verdictCacheSize(): number;
  /** Both estimates (tests, logs). */
  estimate(args: {
    document: DocumentNode;
    operationName?: string | null;
    variables?: Record<string, unknown> | null;
  }): {
    cost: number;
    restCalls: number;
  };
  /**
   * Gives limit errors their code back where a transport relabelled them, and turns graphql-js's
   * token-limit syntax error into one; other errors pass unchanged.
   */
  formatError(formatted: GraphQLFormattedError): GraphQLFormattedError;
  /**
   * An answer's `data` measured against `maxAnswerBytes` before it is serialised: its length as JSON
   * (about; past the limit, where the count stopped), and the refusal to answer instead when past it.
   */
  measureAnswer(data: unknown, mutation: boolean): { length: number; refusal?: GraphQLError };
}

export function createLimits(schema: GraphQLSchema, overrides: Partial<OperationLimits> = {}): Limits {
  const limits: OperationLimits = { ...DEFAULT_LIMITS, ...definedOnly(overrides) };
  const roots = new Set([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]);

  // How many times a field's selection is resolved per parent: its page size, an assumed list
  // size, or once. A connection's `nodes`/`edges` are not multiplied again (the connection was).
  const multiplier = (
    parentName: string,
    field: { type: GraphQLType; args: readonly { name: string; defaultValue?: unknown }[] },
    args: Record<string, unknown>,
  ) => {
    if (field.args.some((arg) => arg.name === 'first')) {
      const first = args.first;
      // Outside 0..150 (Engage's page) the operation is refused for the argument itself before the
      // figures are compared with the limits (`refused`): the figures count it as 0 or 150.
      return typeof first === 'number' && Number.isFinite(first) ? Math.min(MAX_LIMIT, Math.max(0, first)) : MAX_LIMIT;
    }
    if (parentName.endsWith('Connection')) return 1;
    return listOf(field.type) ? limits.assumedListSize : 1;
  };

  const estimator =
    (kind: 'cost' | 'restCalls'): ComplexityEstimator =>
    ({ type, field, node, args, childComplexity, context }) => {
      // Introspection costs no REST call; the whole schema costs `INTROSPECTION_COST`, within any limit.
      if (field.name === '__schema') return kind === 'cost' ? Math.min(INTROSPECTION_COST, limits.maxCost) : 0;
      if (type.name.startsWith('__') || field.name.startsWith('__')) return 0;
      const perParent = PER_PARENT_RELATIONS.has(`${type.name}.${field.name}`) ? 1 : 0;
      const estimating = context as EstimateContext;
      const fragments = estimating.fragments;
      const paths = type.name === 'Thread' ? BACK_TO_THREAD.get(field.name) : undefined;
      // The records' `thread` calls counted below them, which this thread answers, and their
      // `intervention` calls, which its one list of interventions answers.
      const interventions = paths ? contentsInterventions(node, fragments) : { perRecord: 0, list: 0 };
      const free = (paths ? backToThread(node, paths, fragments) : 0) + interventions.perRecord;
      if (kind === 'restCalls')
        return (
          perParent +
          (roots.has(type as never) ? 1 : 0) +
          interventions.list +
          multiplier(type.name, field, args) * Math.max(0, childComplexity - free)
        );
      const namedType = getNamedType(field.type);
      if (
        !estimating.refused &&
        namedType.name.endsWith('Connection') &&
        field.args.some((arg) => arg.name === 'first')
      ) {
        const refused = connectionArgumentError(namedType.name, args);
        if (refused)
          estimating.refused = new GraphQLError(refused.message, { nodes: node, extensions: refused.extensions });
      }
      if (isLeafType(namedType)) return 0;
      const reads =
        namedType.name === 'Thread' && readsThread(node.selectionSet, fragments) ? limits.assumedListSize : 0;
      return (
        1 +
        (perParent + interventions.list) * REST_CALL_WEIGHT +
        multiplier(type.name, field, args) * Math.max(0, childComplexity + reads - free * REST_CALL_WEIGHT)
      );
    };
  const costEstimators = [estimator('cost')];
  const restEstimators = [estimator('restCalls')];

  // Both estimates, and the connection argument the cost estimate found no data makes valid.
  const measure = ({ document, operationName, variables }: Parameters<Limits['estimate']>[0]) => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of document.definitions)
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    const context: EstimateContext = { fragments };
    const common = {
      schema,
      query: document,
      operationName: operationName ?? undefined,
      variables: variables ?? {},
      context,
    };
    return {
      cost: getComplexity({ ...common, estimators: costEstimators }),
      restCalls: getComplexity({ ...common, estimators: restEstimators }),
      refused: context.refused,
    };
  };
  const estimate: Limits['estimate'] = (args) => {
    const { cost, restCalls } = measure(args);
    return { cost, restCalls };
  };

  // One cache for every document, bounded by the characters it holds: keys name the document by a
  // number (documents are kept by the document caches, not here), the operation and the values of
  // the variables it declares (the estimate reads no other; an undeclared one was a free key).
  const verdicts = new LRUCache<string, { error: GraphQLError | null; cost: number }>({
    max: VERDICTS,
    maxSize: VERDICT_CACHE_SIZE,
    sizeCalculation: (verdict, key) => key.length + (verdict.error?.message.length ?? 0) + 64,
  });
  const documentIds = new WeakMap<DocumentNode, number>();
  let lastDocumentId = 0;
  /** Documents estimated before: one object per query text in both transports' caches. */
  const estimated = new WeakSet<DocumentNode>();
  const verdictKey = ({ document, operationName, variables }: Parameters<Limits['checkCost']>[0]) => {
    const operation = getOperationAST(document, operationName);
    if (!operation) return undefined;
    const declared: Record<string, unknown> = {};
    for (const definition of operation.variableDefinitions ?? []) {
      const name = definition.variable.name.value;
      if (variables && Object.hasOwn(variables, name)) declared[name] = variables[name];
    }
    const values = stableStringify(declared);
    // Long values (a reply's text) vary with every request: estimated each time, never kept.
    if (values.length > MAX_VERDICT_KEY) return undefined;
    let id = documentIds.get(document);
    if (id === undefined) documentIds.set(document, (id = lastDocumentId += 1));
    return `${id}\u0000${operationName ?? ''}\u0000${values}`;
  };

  const checkCostOnce = (args: Parameters<Limits['checkCost']>[0]): { error: GraphQLError | null; cost: number } => {
    let figures: ReturnType<typeof measure>;
    try {
      figures = measure(args);
    } catch (error) {
      // Variables that do not fit the operation: the same error execution would give, before any call.
      if (error instanceof GraphQLError && !/maximum allowed number of nodes/.test(error.message))
        return { error: new GraphQLError(error.message, { extensions: { code: 'BAD_USER_INPUT' } }), cost: 0 };
      // getComplexity refuses documents whose fragments expand past its node budget.
      return {
        error: tooComplex('cost', limits.maxCost, 'Operation too complex: its fragments expand to too many fields.'),
        cost: 0,
      };
    }
    // A page size or a cursor no data makes valid: its field's own error, once, before any call.
    if (figures.refused) return { error: figures.refused, cost: 0 };
    return { error: verdictOn(figures), cost: figures.cost };
  };

  const verdictOn = (figures: { cost: number; restCalls: number }): GraphQLError | null => {
    if (figures.restCalls > limits.maxRestCalls)
      return tooComplex(
        'restCalls',
        limits.maxRestCalls,
        `Operation too complex: it may make ${figures.restCalls} REST calls to Engage (fields that cost one call per parent, times their parents); the limit is ${limits.maxRestCalls}.`,
      );
    if (figures.cost > limits.maxCost)
      return tooComplex(
        'cost',
        limits.maxCost,
        `Operation too complex: its estimated cost is ${figures.cost} (page sizes multiplied down the tree); the limit is ${limits.maxCost}.`,
      );
    return null;
  };

  const check: Limits['check'] = (args) => {
    // Before anything walks them recursively (the key's stringify, the estimate's coercion).
    const oversized = oversizedJson(args.variables, MAX_VARIABLE_DEPTH, MAX_VARIABLE_VALUES);
    if (oversized)
      return {
        error: new GraphQLError(
          oversized === 'depth'
            ? `Variables nested more than ${MAX_VARIABLE_DEPTH} levels deep are refused.`
            : `Variables holding more than ${MAX_VARIABLE_VALUES} values are refused.`,
          { extensions: { code: 'BAD_USER_INPUT' } },
        ),
        cost: 0,
        charged: 0,
      };
    // Both transports keep one document object per query text, so a repeated operation (an inbox
    // polled by every agent) is estimated once per set of variables, not once per request.
    const key = verdictKey(args);
    const cached = key === undefined ? undefined : verdicts.get(key);
    if (cached) return { ...cached, charged: cached.cost };
    const verdict = checkCostOnce(args);
    if (key !== undefined) verdicts.set(key, verdict);
    const characters = args.document.loc?.source.body.length ?? 0;
    const perCharacter =
      ESTIMATE_COST_PER_CHARACTER + (estimated.has(args.document) ? 0 : NEW_DOCUMENT_COST_PER_CHARACTER);
    estimated.add(args.document);
    return { ...verdict, charged: verdict.cost + Math.ceil(characters * perCharacter) };
  };

  return {
    limits,
    measureAnswer(data, mutation) {
      const length = answerLength(data, limits.maxAnswerBytes);
      if (length <= limits.maxAnswerBytes) return { length };
      const message =
        `Operation too complex: its answer is larger than the ${limits.maxAnswerBytes} bytes the gateway sends; ` +
        `select fewer fields, fewer aliases of one, or smaller pages` +
        (mutation ? '. The mutation was made: read what it changed with a smaller selection.' : '.');
      const refusal = tooComplex('answerBytes', limits.maxAnswerBytes, message);
      // Every other limit refuses before anything runs: a client (or its retry logic) must not take
      // a mutation refused here for one not made, and post a reply again.
      if (mutation) refusal.extensions.executed = true;
      return { length, refusal };
    },
    parseOptions: { maxTokens: limits.maxTokens },
    validationRules: [
      // First in this list, and on the Document node: before any rule visits a selection set.
      documentShapeRule(limits, tooComplex),
      armored(
        'depth',
        limits.maxDepth,
        maxDepthRule({
          n: limits.maxDepth,
          flattenFragments: true,
          propagateOnRejection: false,
          onReject: [(context, error) => context?.reportError(error)],
        }),
      ),
      armored(
        'aliases',
        limits.maxAliases,
        maxAliasesRule({
          n: limits.maxAliases,
          propagateOnRejection: false,
          onReject: [(context, error) => context?.reportError(error)],
        }),
      ),
      armored(
        'directives',
        limits.maxDirectives,
        maxDirectivesRule({
          n: limits.maxDirectives,
          propagateOnRejection: false,
          onReject: [(context, error) => context?.reportError(error)],
        }),
      ),
    ],
    estimate,
    checkCost: (args) => check(args).error,
    check,
    verdictCacheSize: () => verdicts.calculatedSize,
    formatError(formatted) {
      // Apollo files every validation error under GRAPHQL_VALIDATION_FAILED: ours keep their code.
      const limit = formatted.extensions?.limit;
      if (typeof limit === 'string' && formatted.message.startsWith('Operation too complex'))
        return { ...formatted, extensions: { ...formatted.extensions, code: OPERATION_TOO_COMPLEX } };
      // graphql-js's own limit on introspection (MaxIntrospectionDepthRule: three levels of
      // `fields`, `interfaces`, `possibleTypes` and the like): a limit like ours, named as ours are.
      if (formatted.message === 'Maximum introspection depth exceeded')
        return {
          ...formatted,
          message: 'Operation too complex: its introspection is nested more than 3 levels deep, the limit.',
          extensions: { ...formatted.extensions, code: OPERATION_TOO_COMPLEX, limit: 'introspectionDepth', max: 3 },
        };
      if (!/^Syntax Error: Document contains more tha[nt] \d+ tokens/.test(formatted.message)) return formatted;
      return {
        ...formatted,
        message: `Operation too complex: the document has more than ${limits.maxTokens} tokens, the limit.`,
        extensions: { ...formatted.extensions, code: OPERATION_TOO_COMPLEX, limit: 'tokens', max: limits.maxTokens },
      };
    },
  };
}

/**
 * Apollo Server's side of the cost check: after the operation is resolved (its variables known)
 * and before any resolver runs. The 400 matches the validation errors of the other limits.
 * Then, once it is executed and before its answer is serialised, the answer's length: past
 * `maxAnswerBytes` its data is dropped for the refusal (`data: null`: it was executed).
 */
export function useOperationLimits<C extends object>(
  limits: Limits,
  /** Once an operation's cost is estimated and within the limit: a refusal to answer instead (the caller's rate, by cost). */
  charge?: (cost: number, context: C) => GraphQLError | undefined,
  /**
   * An answer of about `length` bytes is about to be serialised and sent (`refused`: past the answer
   * limit, its refusal is sent instead): a refusal to send instead of it, when it returns one.
   */
  answered?: (length: number, context: C, refused: boolean) => GraphQLError | undefined,
): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      return {
        // Before the logging and metrics plugins' (it comes first in the list, and awaits nothing):
        // they count the refusal's code.
        async willSendResponse({ response, operation, contextValue }) {
          if (response.body.kind !== 'single' || !response.body.singleResult.data) return;
          const mutation = operation?.operation === 'mutation';
          const measured = limits.measureAnswer(response.body.singleResult.data, mutation);
          const refusal = answered?.(measured.length, contextValue, !!measured.refusal) ?? measured.refusal;
          if (!refusal) return;
          // Refused once it ran: a mutation's was made (see `measureAnswer`).
          if (mutation) refusal.extensions.executed = true;
          response.body.singleResult = {
            data: null,
            errors: [{ message: refusal.message, extensions: refusal.extensions }],
          };
        },
        async didResolveOperation({ document, operation, request, contextValue }) {
          // No operation by that name (an operationName with an anonymous one, say): Apollo calls this
          // hook all the same, then answers 400 OPERATION_RESOLUTION_FAILURE, as the WebSocket side
          // does before its own cost check. Estimated here, the failure read as a cost past the limit.
          if (!operation) return;
          const { error, charged } = limits.check({
            document,
            operationName: request.operationName,
            variables: request.variables,
          });
          if (error)
            throw new GraphQLError(error.message, {
              nodes: error.nodes,
              extensions: { ...error.extensions, http: { status: 400 } },
            });
          const refused = charge?.(charged, contextValue);
          if (refused) throw refused;
        },
      };
    },
  };
}
