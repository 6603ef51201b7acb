// `node --import ./register.mjs`: every import of @portcullis/service-client, except the
// one local-client.ts makes itself, resolves to local-client.ts, so the real auth-service
// runs with its decisions made in its own process instead of over h2c.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
