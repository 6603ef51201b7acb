import { PortcullisError } from '@portcullis/contracts';

/** Policies, schema or entities that Cedar refuses; `details` carries Cedar's own messages. */
export class PolicyInvalidError extends PortcullisError {
  static override readonly code = 'E_POLICY_INVALID';
  readonly details: { stage: string; messages: string[] };
  constructor(stage: string, messages: string[]) {
    super(`${stage}: ${messages[0] ?? 'invalid'}${messages.length > 1 ? ` (and ${messages.length - 1} more)` : ''}`, {
      context: { stage },
    });
    this.details = { stage, messages };
  }
}
