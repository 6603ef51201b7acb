// policy-service entry point: validate configuration, start, drain on SIGTERM.
import { runService } from '@portcullis/http-kit';
import { startPolicyService } from './app.ts';
import { readConfig } from './config.ts';

await runService({ name: 'policy-service', readConfig, start: startPolicyService, host: (config) => config.POLICY_HOST });
