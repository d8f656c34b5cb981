/**
 * The development front door: `GET /` links what a front-end developer needs (Apollo Sandbox, an
 * offline GraphiQL, the example inbox app, the health endpoint, the README), and `GET /graphiql`
 * serves GraphiQL from the npm packages installed beside the gateway (its published UMD bundle and
 * React's), so that the explorer works with no internet, where Apollo Sandbox (loaded from
 * Apollo's CDN) cannot. Mounted only when the landing page is on (not in production).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type Router } from 'express';

export interface FrontDoorOptions {
  /** The operation the explorers open with. */
  sampleQuery: string;
  /** Where the example inbox app runs (`npm run example:inbox`). */
  inboxUrl?: string;
}

/** Files served under `/graphiql/`, each from the npm package that publishes it. */
const ASSETS: Record<string, { pkg: string; file: string; type: string }> = {
  'react.js': { pkg: 'react', file: 'umd/react.production.min.js', type: 'text/javascript' },
  'react-dom.js': { pkg: 'react-dom', file: 'umd/react-dom.production.min.js', type: 'text/javascript' },
  'graphiql.js': { pkg: 'graphiql', file: 'graphiql.min.js', type: 'text/javascript' },
  'graphiql.css': { pkg: 'graphiql', file: 'graphiql.min.css', type: 'text/css' },
};

/** A package's folder: its `exports` hide these bundles from `require.resolve`, not from the file system. */
function packageDir(name: string): string {
  let dir = path.dirname(require.resolve(name));
  while (!existsSync(path.join(dir, 'package.json')) || readJson(path.join(dir, 'package.json')).name !== name) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`front door: cannot find the ${name} package`);
    dir = parent;
  }
  return dir;
}

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { name?: string };

const README = path.resolve(__dirname, '..', 'README.md');

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function frontPage(inboxUrl: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Engage GraphQL gateway</title>
<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1d2430}
li{margin:.5rem 0}code{background:#eef1f5;padding:0 .25rem;border-radius:3px}.hint{color:#6b7585}</style></head>
<body>
<h1>Engage GraphQL gateway</h1>
<p>GraphQL on <code>/graphql</code> (HTTP), subscriptions over graphql-ws on the same URL.</p>
<ul>
<li><a href="/graphql">Apollo Sandbox</a> <span class="hint">— the explorer; loads from Apollo's CDN</span></li>
<li><a href="/graphiql">GraphiQL</a> <span class="hint">— the same, offline: served from this gateway's npm packages</span></li>
<li><a href="${escape(inboxUrl)}">The inbox app</a> <span class="hint">— start it with <code>npm run example:inbox</code></span></li>
<li><a href="/healthz">/healthz</a> <span class="hint">— health</span></li>
<li><a href="/readme">README</a> <span class="hint">— authentication, CORS, codegen, subscriptions, errors</span></li>
</ul>
</body>
</html>
`;
}

const GRAPHIQL_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>GraphiQL · Engage GraphQL gateway</title>
<link rel="stylesheet" href="/graphiql/graphiql.css">
<style>body{margin:0}#graphiql{height:100vh}</style></head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/graphiql/react.js"></script>
<script src="/graphiql/react-dom.js"></script>
<script src="/graphiql/graphiql.js"></script>
<script src="/graphiql/setup.js"></script>
</body>
</html>
`;

/**
 * GraphiQL on this origin's `/graphql`, subscriptions over graphql-ws. Without headers the
 * gateway's configured token answers; `{"Authorization": "Bearer <token>"}` in the Headers tab
 * acts as another agent.
 */
function setupScript(sampleQuery: string): string {
  return `(function () {
  var url = new URL('/graphql', window.location.href).href;
  var fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: url.replace(/^http/, 'ws') });
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: ${JSON.stringify(sampleQuery)},
      defaultEditorToolsVisibility: 'headers',
      shouldPersistHeaders: false,
    }),
  );
})();
`;
}

export function frontDoor(options: FrontDoorOptions): Router {
  const router = express.Router();
  const page = frontPage(options.inboxUrl ?? 'http://localhost:5173');
  const setup = setupScript(options.sampleQuery);

  router.get('/', (_req, res) => {
    res.type('html').send(page);
  });
  // Browsers ask for it with every page here: no icon, and no 404 in their console.
  router.get('/favicon.ico', (_req, res) => {
    res.status(204).end();
  });
  router.get('/readme', (_req, res) => {
    res.type('text/markdown; charset=utf-8').send(readFileSync(README, 'utf8'));
  });
  router.get('/graphiql', (_req, res) => {
    res.type('html').send(GRAPHIQL_PAGE);
  });
  router.get('/graphiql/setup.js', (_req, res) => {
    res.type('text/javascript').send(setup);
  });
  router.get('/graphiql/:asset', (req, res, next) => {
    const asset = ASSETS[req.params.asset];
    if (!asset) return next();
    res.type(asset.type);
    res.sendFile(path.join(packageDir(asset.pkg), asset.file), { maxAge: '1d' });
  });
  return router;
}
