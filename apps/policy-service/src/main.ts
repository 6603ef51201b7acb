// policy-service entry point: validate configuration, start, drain on SIGTERM.
import { ConfigError } from '@portcullis/observability';
import { drainOnSignals } from '@portcullis/http-kit';
import { startPolicyService } from './app.ts';
import { readConfig } from './config.ts';

let config;
try {
  config = readConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`policy-service: ${error.message}`);
    process.exit(2);
  }
  throw error;
}
const service = await startPolicyService(config);
drainOnSignals({ context: service.context, server: service.server, log: service.log, cleanup: () => service.stop() });
service.log.info({ url: `http://${config.POLICY_HOST}:${service.server.port}` }, 'policy-service listening');
console.log(`policy-service listening on http://${config.POLICY_HOST}:${service.server.port} (HTTP/1.1 and h2c)`);
