/**
 * `npm run schema:print`: writes the schema the gateway serves (the SDL of `schema/` with the
 * resolvers' scalars) to `schema.graphql` at the project root. Front-end teams point client codegen
 * at that file; CI fails when it differs from what the server serves (`.ci/run`).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { printSchema } from 'graphql';
import { createSchema } from '../src/server';

const HEADER =
  '# The schema the gateway serves, printed by `npm run schema:print`. Do not edit: edit schema/*.graphql.\n\n';

const target = path.resolve(__dirname, '..', 'schema.graphql');
writeFileSync(target, `${HEADER}${printSchema(createSchema())}\n`);
