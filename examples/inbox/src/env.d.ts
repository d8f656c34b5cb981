/** The gateway's GraphQL URL, absolute or relative to the page (set by vite.config.ts). */
declare const __GATEWAY_URL__: string;
