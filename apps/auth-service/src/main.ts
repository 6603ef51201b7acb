// auth-service entry point: validate configuration, start, drain on SIGTERM.
import { runService } from '@portcullis/http-kit';
import { startAuthService } from './app.ts';
import { readConfig } from './config.ts';

await runService({ name: 'auth-service', readConfig, start: startAuthService, host: (config) => config.AUTH_HOST });
