/**
 * The inbox app's dev server (port 5173) and preview server (4173). `/_emulator` is proxied to the
 * embedded emulator so that the sign-in screen can list the seeded agents' tokens in development.
 *
 * Environment: GATEWAY_URL (default http://localhost:4000/graphql) is the gateway. The app calls it
 * directly, cross-origin, as a front-end on its own origin does: the gateway allows the app's origin
 * (CORS_ORIGINS; localhost origins in development). GATEWAY_VIA_PROXY=1 sends `/graphql` (HTTP and
 * WebSocket) through this server's proxy instead, for a gateway that does not list the app's origin.
 * EMULATOR_ORIGIN (default http://127.0.0.1:4010) is where `/_emulator` goes.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import react from '@vitejs/plugin-react';
import { defineConfig, loadEnv, type ProxyOptions } from 'vite';

/**
 * The proxy passes the page's `Origin` on, and the gateway refuses a WebSocket upgrade from an origin
 * it does not list (403), which is the very case of GATEWAY_VIA_PROXY=1. A request from this app's
 * own pages (its Origin this server's, on a loopback name) comes from here, not from a page on
 * another site: it goes on without one, as a server's request does. Any other Origin is passed on
 * for the gateway to judge, among them a site whose name was rebound to this machine (DNS
 * rebinding: its Host and Origin agree too, and Vite's check of allowed hosts does not cover
 * proxied WebSocket upgrades).
 */
const LOOPBACK_HOST = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;
const ownPagesAsServer: ProxyOptions['configure'] = (proxy) => {
  const fromOwnPage = (proxyReq: ClientRequest, req: IncomingMessage) => {
    const { origin, host } = req.headers;
    if (host && LOOPBACK_HOST.test(host) && (origin === `http://${host}` || origin === `https://${host}`))
      proxyReq.removeHeader('origin');
  };
  proxy.on('proxyReq', fromOwnPage);
  proxy.on('proxyReqWs', fromOwnPage);
};

export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, process.cwd(), '');
  const gatewayUrl = env.GATEWAY_URL || 'http://localhost:4000/graphql';
  const proxy = {
    '/_emulator': { target: env.EMULATOR_ORIGIN || 'http://127.0.0.1:4010', changeOrigin: true },
    // Same-origin `/graphql` (HTTP and WebSocket) reaches the gateway through here with GATEWAY_VIA_PROXY=1.
    '/graphql': { target: new URL(gatewayUrl).origin, changeOrigin: true, ws: true, configure: ownPagesAsServer },
  };
  return {
    plugins: [react()],
    define: { __GATEWAY_URL__: JSON.stringify(env.GATEWAY_VIA_PROXY === '1' ? '/graphql' : gatewayUrl) },
    server: { port: Number(env.PORT || 5173), strictPort: true, proxy },
    preview: { port: Number(env.PORT || 4173), strictPort: true, proxy },
  };
});
