// auth-service entry point: validate configuration, start, drain on SIGTERM. With
// AUTH_WORKERS > 1 this process is a node:cluster primary and each worker runs the service.
// The service itself is loaded once the configuration is known good (a refused one exits
// sooner) and only where it runs (never in a cluster primary).
import cluster from 'node:cluster';
import { runService } from '@portcullis/http-kit';
import { ConfigError } from '@portcullis/observability';
import { readConfig, type AuthServiceConfig } from './config.ts';

const name = 'auth-service';
const host = (config: AuthServiceConfig) => config.AUTH_HOST;

if (cluster.isWorker) {
  const [{ startAuthService }, { workerOptions }] = await Promise.all([import('./app.ts'), import('./cluster.ts')]);
  const { decorate, ...worker } = workerOptions();
  await runService({ name, readConfig, start: (config) => startAuthService(config).then(decorate), host, ...worker });
} else {
  let config: AuthServiceConfig;
  try {
    config = readConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${name}: ${error.message}`);
    process.exit(2);
  }
  if (config.AUTH_WORKERS > 1) {
    const { runPrimary } = await import('./cluster.ts');
    runPrimary({ name, workers: config.AUTH_WORKERS, logLevel: config.LOG_LEVEL });
  } else {
    const { startAuthService } = await import('./app.ts');
    await runService({ name, readConfig: () => config, start: startAuthService, host });
  }
}
