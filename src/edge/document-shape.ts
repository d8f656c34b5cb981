/**
 * Shape limits checked on the parsed document before graphql-js's own validation rules look at it.
 *
 * graphql-js's OverlappingFieldsCanBeMerged rule compares every pair of fragments spread in a
 * selection set, and every pair of fields answering under the same name, with their subselections:
 * quadratic work. A 13 KB document under the token limit, of 225 fragment spreads that all select
 * the same root field, cost 80-340 ms of CPU in validation before any of our limits refused it, for a
 * caller whose token nobody had checked yet. Two counts bound that work:
 *
 * | limit            | what is counted                                                                                     |
 * |------------------|-----------------------------------------------------------------------------------------------------|
 * | fragmentSpreads  | fragment spreads (`...Name`) in the whole document                                                   |
 * | repeatedFields   | most fields answering under one name in one selection set, inline fragments and named fragments merged |
 *
 * Both are linear in the document (each named fragment's counts are computed once). The rule runs
 * in the same `validate` call as graphql-js's rules (Apollo puts ours after them; the WebSocket
 * transport too), on the `Document` node, which is entered before any selection set: over a limit,
 * it reports the error and hands the traversal an empty document in place of the real one (a
 * visitor may replace the node it enters), so no rule visits a single operation or fragment of it.
 *
 * And one limit on the text, before anything parses it: nesting. graphql-js's parser, and every
 * walk of the tree after it (validation, printing, `JSON.stringify` of the document store's size),
 * recurse once per level of braces, brackets and parentheses; the token limit lets about a thousand
 * levels through (three tokens a level), and more where OPERATION_MAX_TOKENS is raised or the limits
 * are off. A document nested more than `MAX_DOCUMENT_NESTING` deep is refused as graphql-js refuses a
 * document it cannot parse: `GRAPHQL_PARSE_FAILED`, "Syntax Error: the document is nested too deeply
 * to be parsed." (`nestedTooDeeply`, a linear scan that skips strings and comments). Every place
 * that parses a client's document checks it first: a POST's or a GET's before Apollo sees it
 * (`refuseDeepNesting`, src/edge/http-errors.ts), the HTTP refusal of subscriptions (same file),
 * a persisted query found by its hash (src/edge/documents.ts `createPersistedQueryCache`) and the
 * WebSocket transport (src/live/transport.ts). (An Apollo plugin cannot refuse a request before
 * Apollo parses it: whatever a hook throws then is answered 500.)
 */
import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type DocumentNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';

export interface DocumentShapeLimits {
  maxFragmentSpreads: number;
  maxRepeatedFields: number;
}

/** What the traversal continues with once a document is refused: nothing to visit. */
const NOTHING: DocumentNode = Object.freeze({ kind: Kind.DOCUMENT, definitions: Object.freeze([]) });

/**
 * The first shape limit `document` breaks, as the error to report (`refuse` builds it with the
 * limit's name, its maximum and a message); null within the limits.
 */
export function checkDocumentShape(
  document: DocumentNode,
  limits: DocumentShapeLimits,
  refuse: (limit: 'fragmentSpreads' | 'repeatedFields', max: number, message: string) => GraphQLError,
): GraphQLError | null {
  const fragments = new Map<string, FragmentDefinitionNode>();
  const selectionSets: SelectionSetNode[] = [];
  let spreads = 0;
  // Every selection set of the document, and the spreads, without graphql-js's visitor (no TypeInfo).
  const collect = (set: SelectionSetNode) => {
    selectionSets.push(set);
    for (const selection of set.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD) spreads += 1;
      else if (selection.selectionSet) collect(selection.selectionSet);
    }
  };
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    if (definition.kind === Kind.FRAGMENT_DEFINITION || definition.kind === Kind.OPERATION_DEFINITION)
      collect(definition.selectionSet);
  }
  if (spreads > limits.maxFragmentSpreads)
    return refuse(
      'fragmentSpreads',
      limits.maxFragmentSpreads,
      `Operation too complex: the document spreads fragments ${spreads} times; the limit is ${limits.maxFragmentSpreads}.`,
    );

  // Fields by response name in a selection set, inline fragments and named fragments merged (each
  // named fragment once per selection set, as graphql-js merges them); a fragment's counts once.
  const ofFragment = new Map<string, ReadonlyMap<string, number> | null>();
  const fieldsOf = (set: SelectionSetNode): Map<string, number> => {
    const counts = new Map<string, number>();
    const spread = new Set<string>();
    const add = (name: string, n: number) => counts.set(name, (counts.get(name) ?? 0) + n);
    const walk = (inner: SelectionSetNode) => {
      for (const selection of inner.selections) {
        if (selection.kind === Kind.FIELD) add((selection.alias ?? selection.name).value, 1);
        else if (selection.kind === Kind.INLINE_FRAGMENT) walk(selection.selectionSet);
        else if (!spread.has(selection.name.value)) {
          spread.add(selection.name.value);
          for (const [name, n] of fragmentFields(selection.name.value)) add(name, n);
        }
      }
    };
    walk(set);
    return counts;
  };
  const fragmentFields = (name: string): ReadonlyMap<string, number> => {
    const known = ofFragment.get(name);
    if (known !== undefined) return known ?? new Map(); // null: a cycle, which graphql-js reports
    const fragment = fragments.get(name);
    if (!fragment) return new Map();
    ofFragment.set(name, null);
    const counts = fieldsOf(fragment.selectionSet);
    ofFragment.set(name, counts);
    return counts;
  };
  for (const set of selectionSets) {
    for (const [name, n] of fieldsOf(set)) {
      if (n > limits.maxRepeatedFields)
        return refuse(
          'repeatedFields',
          limits.maxRepeatedFields,
          `Operation too complex: "${name}" is selected ${n} times in one selection set (fragments merged); the limit is ${limits.maxRepeatedFields}.`,
        );
    }
  }
  return null;
}

/** The validation rule: over a limit, the error, and nothing of the document left for the other rules. */
export function documentShapeRule(
  limits: DocumentShapeLimits,
  refuse: Parameters<typeof checkDocumentShape>[2],
): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    Document(document) {
      const error = checkDocumentShape(document, limits, refuse);
      if (!error) return undefined;
      context.reportError(error);
      return NOTHING;
    },
  });
}

/** Braces, brackets and parentheses a document may nest; the deepest documented operation nests 12. */
export const MAX_DOCUMENT_NESTING = 500;

const OPEN = new Set([0x7b, 0x5b, 0x28]); // { [ (
const CLOSE = new Set([0x7d, 0x5d, 0x29]); // } ] )
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HASH = 0x23;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Whether `source` (a document's text) nests braces, brackets and parentheses more than `max`
 * deep, outside strings, block strings and comments: what graphql-js's parser would recurse
 * through. One pass, no allocation; a text that would not parse (a stray `}`, an unterminated
 * string) is only ever counted deeper, never shallower, than the parser would go.
 */
export function nestedTooDeeply(source: string, max = MAX_DOCUMENT_NESTING): boolean {
  let depth = 0;
  const length = source.length;
  for (let i = 0; i < length; i += 1) {
    const code = source.charCodeAt(i);
    if (OPEN.has(code)) {
      depth += 1;
      if (depth > max) return true;
    } else if (CLOSE.has(code)) {
      if (depth > 0) depth -= 1;
    } else if (code === HASH) {
      // A comment, to the end of its line.
      while (i + 1 < length && source.charCodeAt(i + 1) !== LF && source.charCodeAt(i + 1) !== CR) i += 1;
    } else if (code === QUOTE) {
      if (source.startsWith('""', i + 1)) {
        // A block string, to the next `"""` not escaped as `\"""`.
        i += 3;
        while (i < length && !(source.startsWith('"""', i) && source.charCodeAt(i - 1) !== BACKSLASH)) i += 1;
        i += 2;
      } else {
        // A string, to its closing quote (escapes skipped) or the end of its line (where graphql-js stops too).
        for (i += 1; i < length; i += 1) {
          const inner = source.charCodeAt(i);
          if (inner === BACKSLASH) i += 1;
          else if (inner === QUOTE || inner === LF || inner === CR) break;
        }
      }
    }
  }
  return false;
}

/** The refusal of a document `nestedTooDeeply`: what a parse error says, with its code. */
export function nestedTooDeeplyError(http = false): GraphQLError {
  return new GraphQLError('Syntax Error: the document is nested too deeply to be parsed.', {
    extensions: { code: 'GRAPHQL_PARSE_FAILED', ...(http ? { http: { status: 400 } } : {}) },
  });
}
