/**
 * Queries and mutations over HTTP run as compiled JavaScript (graphql-jit) once a document has
 * been seen before: graphql-js's generic executor spent more CPU per inbox than the whole plain-Node
 * floor (argument objects, info objects and promises for every field of every thread).
 *
 * Apollo Server takes an executor of its own only through its gateway interface: `compiledGateway`
 * hands Apollo the schema it validates against and an executor that compiles each operation once
 * and keeps the most recently used (`COMPILED_OPERATIONS`).
 *
 * Where graphql-jit does not answer as graphql-js does, graphql-js runs:
 * - a document's first run: compiling one costs about as much CPU as running it (1-3 ms for the
 *   benchmarked operations), and a caller sending a new document with every request must not make
 *   the gateway compile each;
 * - a document with `@skip` or `@include`: graphql-jit drops fields in some shapes of them (a
 *   fragment spread twice, once under a condition; zalando-incubator/graphql-jit#111, #166), with
 *   a response key or a variable `__proto__`, which it drops, or with a variable inside a custom
 *   scalar's literal (JSON), which it drops too;
 * - a mutation of more than one field: graphql-jit runs the fields after one whose failure nulled
 *   `data` (and makes their Engage writes), where graphql-js stops;
 * - a request that leaves out a variable given to an input object field (`inputFieldVariables`);
 * - variables that do not coerce (with the limits on, the cost estimate refuses them first):
 *   graphql-js's errors name the variable's definition, which Apollo answers with 400 BAD_USER_INPUT.
 * And two differences are mended here:
 * - graphql-jit's errors lack `extensions` when the thrown error has none (Apollo reads them), and
 *   its null errors name a field selected twice `Type.(name,name)`: they are rebuilt as graphql-js
 *   errors (`asGraphQLError`);
 * - graphql-jit answers once every resolver has settled, where graphql-js answers as soon as an
 *   error has nulled `data` (a failing non-null root field, or a non-null chain up to one): the
 *   answer was decided, and once it is sent the operation ends and its pending Engage calls stop.
 *   Failures of fields whose null reaches `data` are reported as they happen (`reportsFailures`),
 *   and the executor answers with the first of them.
 * What still differs, when several fields fail, is the errors list, never `data`: graphql-jit lists
 * nullable fields' errors first and every failure under a field already nulled, and an early answer
 * lists the failure that nulled `data` alone. Matching graphql-js there meant wrapping every
 * resolver, which cost about as much CPU per inbox as compiling saved.
 */
import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import {
  BREAK,
  execute,
  getNamedType,
  getNullableType,
  getOperationAST,
  GraphQLError,
  isAbstractType,
  isCompositeType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isUnionType,
  Kind,
  locatedError,
  OperationTypeNode,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type ExecutionResult,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLFieldResolver,
  type GraphQLOutputType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type ListValueNode,
  type ObjectValueNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { pathToArray } from 'graphql/jsutils/Path';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';
import { documentSize, entrySize } from './edge/documents';

export interface ExecutorOptions {
  /** Runs of a document on graphql-js before it is compiled; default 1. */
  compileAfterRuns?: number;
  /** Told which executor ran each operation (the `graphql_executions_total` metric). */
  onExecution?: (executor: 'compiled' | 'graphql-js') => void;
}

type Failure = (error: GraphQLError) => void;

/** The operation a context serves, told of failures that null `data` (see `reportsFailures`). */
const failureListeners = new WeakMap<object, { fatal: ReadonlySet<string>; fail: Failure }>();

interface Compiled {
  query: CompiledQuery;
  /** Where a failure nulls `data`: `fatalKey` of each such field. */
  fatal: ReadonlySet<string>;
  /** See `inputFieldVariables`. */
  inputFieldVariables: readonly string[];
  /** Characters its document holds (`documentSize`, the source text included), which the compiled query keeps. */
  size: number;
}

type GatewayRequest = Parameters<GatewayExecutor>[0];

/**
 * Operations kept compiled: each holds generated code and its document (with the document's source
 * text), and a caller may send many documents (the parsed documents Apollo keeps are bounded by
 * their size, not by what compiling them made). Bounded by count (the generated code grows with the
 * document's tokens, which the token limit bounds) and by the characters of their documents.
 */
const COMPILED_OPERATIONS = 1000;
const COMPILED_SIZE = 32 * 1024 * 1024;
/** Characters the run counts of documents not compiled yet may hold (their keys name the operation). */
const RUNS_SIZE = 4 * 1024 * 1024;

/** A field's place in an answer whatever the list indices: response keys joined, then the parent type. */
function fatalKey(keys: readonly (string | number)[], parentType: string): string {
  let key = '';
  for (const segment of keys) if (typeof segment === 'string') key += `${segment}.`;
  return `${key}@${parentType}`;
}

/**
 * The fields of `operationName` in `document` whose error nulls `data`: non-null fields (through
 * non-null list items) all the way up from the root.
 */
export function fatalFields(schema: GraphQLSchema, document: DocumentNode, operationName: string | null): Set<string> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const operation = getOperationAST(document, operationName);
  const fatal = new Set<string>();
  const root = operation && schema.getRootType(operation.operation);
  if (!operation || !root) return fatal;
  const seen = new Set<string>();
  const walk = (selectionSet: SelectionSetNode, parentType: GraphQLCompositeType, keys: string[]) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (isUnionType(parentType)) continue; // only __typename
        const field = parentType.getFields()[selection.name.value];
        if (!field || !isNonNullType(field.type)) continue;
        const path = [...keys, (selection.alias ?? selection.name).value];
        // Where the field is resolved: on an object type (an interface's fields run on its objects).
        fatal.add(fatalKey(path, parentType.name));
        if (isAbstractType(parentType))
          for (const type of schema.getPossibleTypes(parentType)) fatal.add(fatalKey(path, type.name));
        const inner = nonNullItems(field.type);
        if (inner && selection.selectionSet && isCompositeType(inner)) walk(selection.selectionSet, inner, path);
      } else {
        const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments.get(selection.name.value);
        if (!fragment) continue;
        if (selection.kind === Kind.FRAGMENT_SPREAD) {
          const visitKey = `${keys.join('.')}|${parentType.name}|${selection.name.value}`;
          if (seen.has(visitKey)) continue;
          seen.add(visitKey);
        }
        const condition = fragment.typeCondition && schema.getType(fragment.typeCondition.name.value);
        walk(fragment.selectionSet, condition && isCompositeType(condition) ? condition : parentType, keys);
      }
    }
  };
  walk(operation.selectionSet, root, []);
  return fatal;
}

/** The named type under a non-null type and its non-null list items; undefined when a level may be null. */
function nonNullItems(type: GraphQLOutputType): ReturnType<typeof getNamedType> | undefined {
  let current: GraphQLOutputType = getNullableType(type);
  while (isListType(current)) {
    if (!isNonNullType(current.ofType)) return undefined;
    current = getNullableType(current.ofType);
  }
  return getNamedType(current);
}

/**
 * Wraps, in place, every resolver of a non-null field of `schema` so that its failure reaches the
 * executor of the operation it serves when the failure nulls `data`. The schema must be one that
 * only the compiled executor uses.
 */
export function reportsFailures(schema: GraphQLSchema): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const resolve = field.resolve;
      if (!resolve || !isNonNullType(field.type)) continue;
      const reported: GraphQLFieldResolver<unknown, object> = (source, args, context, info) => {
        try {
          const value: unknown = resolve(source, args, context, info);
          return value instanceof Promise ? value.catch((error: unknown) => report(error, context, info)) : value;
        } catch (error) {
          return report(error, context, info);
        }
      };
      field.resolve = reported;
    }
  }
}

function report(error: unknown, context: object, info: GraphQLResolveInfo): never {
  const listener = failureListeners.get(context);
  if (listener) {
    const path = pathToArray(info.path);
    if (listener.fatal.has(fatalKey(path, info.parentType.name))) {
      // The first such failure decides the answer: the next ones (a field failing in every item of
      // a list) would each build a located error, with its stack trace, for nothing.
      failureListeners.delete(context);
      listener.fail(locatedError(error, info.fieldNodes, path));
    }
  }
  throw error;
}

/**
 * True when graphql-jit would answer `operation` wrongly:
 * - a mutation of more than one field: graphql-jit runs the fields after one whose failure nulled
 *   `data` (and makes their Engage writes), where graphql-js stops;
 * - a `@skip` or `@include` in the document;
 * - a response key or a variable named `__proto__`: the compiled query builds answers and variables
 *   with object literals, where that key sets the prototype (the field vanished from the answer, the
 *   variable's value was not read);
 * - a variable inside a custom scalar's literal (`values: { priority: $priority }` for JSON):
 *   graphql-jit reads such a literal once, when compiling, and drops the variable.
 */
function compilesWrongly(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): boolean {
  const [first, ...others] = operation.selectionSet.selections;
  if (operation.operation === OperationTypeNode.MUTATION && (others.length > 0 || first.kind !== Kind.FIELD))
    return true;
  const typeInfo = new TypeInfo(schema);
  let found = false;
  const scalarLiteral = (node: ListValueNode | ObjectValueNode) => {
    // A list or an object where the type expects none: a custom scalar's literal. (Inside a list,
    // TypeInfo already reads the item type: the list's own is the parent's.)
    if (
      node.kind === Kind.LIST
        ? isListType(getNullableType(typeInfo.getParentInputType()))
        : isInputObjectType(getNamedType(typeInfo.getInputType()))
    )
      return undefined;
    visit(node, {
      Variable() {
        found = true;
        return BREAK;
      },
    });
    return found ? BREAK : false;
  };
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Directive(node) {
        if (node.name.value !== 'skip' && node.name.value !== 'include') return undefined;
        found = true;
        return BREAK;
      },
      Field(node) {
        if ((node.alias ?? node.name).value !== '__proto__') return undefined;
        found = true;
        return BREAK;
      },
      VariableDefinition(node) {
        if (node.variable.name.value !== '__proto__') return undefined;
        found = true;
        return BREAK;
      },
      ListValue: scalarLiteral,
      ObjectValue: scalarLiteral,
    }),
  );
  return found;
}

/**
 * The variables of `operation` given to input object fields, where they have no default. A request
 * that leaves one of them out runs on graphql-js: graphql-jit gives the field null, where graphql-js
 * leaves it out or gives it the field's default (`ReplyInput.private` is false, and a reply's
 * retry with its idempotency key must have the first run's arguments).
 */
function inputFieldVariables(document: DocumentNode, operation: OperationDefinitionNode): string[] {
  const withoutDefault = new Set(
    operation.variableDefinitions
      ?.filter((definition) => !definition.defaultValue)
      .map((definition) => definition.variable.name.value),
  );
  const names = new Set<string>();
  visit(document, {
    ObjectField(node) {
      if (node.value.kind === Kind.VARIABLE && withoutDefault.has(node.value.name.value))
        names.add(node.value.name.value);
    },
  });
  return [...names];
}

/** graphql-jit's null error of a field selected more than once: `Type.(name,name)`. */
const NULL_OF_MERGED_FIELD = /^(Cannot return null for non-nullable field \w+\.)\((\w+)(?:,\w+)*\)\.$/;

/**
 * graphql-jit's errors inherit from graphql-js's GraphQLError without running its constructor, so
 * they lack `extensions` when the thrown error has none, which Apollo's error formatting reads; and
 * a field selected more than once is named `Type.name` by graphql-js.
 */
function asGraphQLError(error: GraphQLError): GraphQLError {
  const rebuilt = new GraphQLError(error.message.replace(NULL_OF_MERGED_FIELD, '$1$2.'), {
    path: error.path,
    originalError: error.originalError ?? undefined,
    extensions: error.extensions,
  });
  (rebuilt as { locations?: GraphQLError['locations'] }).locations = error.locations;
  return rebuilt;
}

/**
 * @param schema what Apollo validates against and graphql-js executes.
 * @param compiledSchema the same schema built apart, for the compiled queries (`reportsFailures` wraps its resolvers).
 */
export function createExecutor(
  schema: GraphQLSchema,
  compiledSchema: GraphQLSchema,
  { compileAfterRuns = 1, onExecution }: ExecutorOptions = {},
): GatewayExecutor & { cacheSize(): number } {
  reportsFailures(compiledSchema);
  // By Apollo's hash of the query text and the operation: runs so far of those not compiled yet,
  // then the compiled operations (or `false`: graphql-js runs it), most recently used kept.
  const runs = new LRUCache<string, number>({
    max: 10 * COMPILED_OPERATIONS,
    maxSize: RUNS_SIZE,
    sizeCalculation: (_count, key) => key.length + 16,
  });
  const compiled = new LRUCache<string, Compiled | false>({
    max: COMPILED_OPERATIONS,
    maxSize: COMPILED_SIZE,
    sizeCalculation: (entry, key) => key.length + (entry ? entry.size : 16),
  });
  const compiledFor = ({ queryHash, document, operationName }: GatewayRequest): Compiled | false => {
    const key = `${queryHash}\u0000${operationName ?? ''}`;
    const known = compiled.get(key);
    if (known !== undefined) return known;
    const count = runs.get(key) ?? 0;
    if (count < compileAfterRuns) {
      runs.set(key, count + 1);
      return false;
    }
    runs.delete(key);
    let entry: Compiled | false = false;
    const operation = getOperationAST(document, operationName);
    if (operation && !compilesWrongly(compiledSchema, document, operation)) {
      const query = compileQuery(compiledSchema, document, operationName ?? undefined);
      if (isCompiledQuery(query))
        entry = {
          query,
          fatal: fatalFields(compiledSchema, document, operationName),
          inputFieldVariables: inputFieldVariables(document, operation),
          size: entrySize(documentSize(document), COMPILED_SIZE),
        };
    }
    compiled.set(key, entry);
    return entry;
  };
  const interpreted = (request: GatewayRequest, operationName = request.operationName) =>
    execute({
      schema,
      document: request.document,
      contextValue: request.context,
      variableValues: request.request.variables,
      operationName,
    }) as Promise<ExecutionResult>;

  const executor: GatewayExecutor = async (request) => {
    // No operation resolved (an `operationName` the document does not define, several operations
    // and no name): Apollo hands the executor its resolved name, null, with which graphql-js would
    // run the document's only operation. graphql-js, given the caller's name, answers the error
    // Apollo turns into a 400 OPERATION_RESOLUTION_FAILURE.
    if (!getOperationAST(request.document, request.request.operationName)) {
      onExecution?.('graphql-js');
      return interpreted(request, request.request.operationName);
    }
    const operation = compiledFor(request);
    const variables = request.request.variables ?? {};
    if (!operation || operation.inputFieldVariables.some((name) => variables[name] === undefined)) {
      onExecution?.('graphql-js');
      return interpreted(request);
    }
    onExecution?.('compiled');
    const context = request.context;
    // Only an operation with fields whose failure nulls `data` can be answered before its run ends;
    // the listener is in place before the run starts (a resolver may fail synchronously).
    const early =
      operation.fatal.size > 0
        ? new Promise<ExecutionResult>((decided) =>
            failureListeners.set(context, {
              fatal: operation.fatal,
              fail: (error) => decided({ data: null, errors: [error] }),
            }),
          )
        : undefined;
    try {
      const run = Promise.resolve(operation.query.query(undefined, context, variables));
      const result = await (early ? Promise.race([run, early]) : run);
      if (result.data === undefined) return interpreted(request); // variables that do not coerce
      if (result.errors) return { ...result, errors: result.errors.map(asGraphQLError) };
      return result;
    } finally {
      failureListeners.delete(context);
    }
  };
  // Characters the compiled operations and the run counts hold (tests).
  return Object.assign(executor, { cacheSize: () => compiled.calculatedSize + runs.calculatedSize });
}

/** Apollo's gateway interface for one fixed schema and `createExecutor`. */
export function compiledGateway(
  schema: GraphQLSchema,
  compiledSchema: GraphQLSchema,
  options: ExecutorOptions = {},
): GatewayInterface & { cacheSize(): number } {
  let executor: ReturnType<typeof createExecutor> | undefined;
  return {
    cacheSize: () => executor?.cacheSize() ?? 0,
    onSchemaLoadOrUpdate(callback) {
      callback({ apiSchema: schema, coreSupergraphSdl: '' });
      return () => undefined;
    },
    async load() {
      executor = createExecutor(schema, compiledSchema, options);
      return { executor };
    },
    async stop() {},
  };
}
