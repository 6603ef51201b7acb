// auth-service entry point: validate configuration, start, drain on SIGTERM.
import { ConfigError } from '@portcullis/observability';
import { drainOnSignals } from '@portcullis/http-kit';
import { startAuthService } from './app.ts';
import { readConfig } from './config.ts';

let config;
try {
  config = readConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`auth-service: ${error.message}`);
    process.exit(2);
  }
  throw error;
}
let service;
try {
  service = await startAuthService(config);
} catch (error) {
  if (error instanceof RangeError) {
    console.error(`auth-service: ${error.message}`);
    process.exit(2);
  }
  throw error;
}
drainOnSignals({ context: service.context, server: service.server, log: service.log, cleanup: () => service.stop() });
service.log.info({ url: `http://${config.AUTH_HOST}:${service.server.port}` }, 'auth-service listening');
console.log(`auth-service listening on http://${config.AUTH_HOST}:${service.server.port}`);
