/** The state of one dependency as `/health` reports it. */
export type ComponentStatus = 'up' | 'degraded' | 'down';

/** A dependency check registered with {@link Health}. */
export interface HealthCheck {
  name: string;
  /**
   * When true, the service is not ready unless this component is `up`.
   * A non-critical component only shows in `/health`.
   */
  critical: boolean;
  check(): { status: ComponentStatus; detail?: Record<string, unknown> };
}

/** The body of `GET /health` and `GET /ready`. */
export interface HealthReport {
  status: ComponentStatus;
  ready: boolean;
  draining: boolean;
  components: Record<string, { status: ComponentStatus; critical: boolean; detail?: Record<string, unknown> }>;
}

/**
 * Collects each dependency's state. Checks are synchronous reads of state the
 * components already track (breaker state, connection status, policies loaded), so a
 * probe never waits on the dependency it reports on.
 */
export class Health {
  readonly #checks: HealthCheck[] = [];
  #draining = false;

  /** Adds a dependency; its check runs on every probe. */
  register(check: HealthCheck): void {
    this.#checks.push(check);
  }

  /** From now on `/ready` answers 503 so load balancers stop sending traffic. */
  startDraining(): void {
    this.#draining = true;
  }

  get draining(): boolean {
    return this.#draining;
  }

  report(): HealthReport {
    const components: HealthReport['components'] = {};
    let ready = !this.#draining;
    let worst: ComponentStatus = 'up';
    for (const check of this.#checks) {
      let result: ReturnType<HealthCheck['check']>;
      try {
        result = check.check();
      } catch (error) {
        result = { status: 'down', detail: { error: error instanceof Error ? error.message : String(error) } };
      }
      components[check.name] = { status: result.status, critical: check.critical, ...(result.detail ? { detail: result.detail } : {}) };
      if (check.critical && result.status !== 'up') ready = false;
      if (result.status === 'down' && check.critical) worst = 'down';
      else if (result.status !== 'up' && worst === 'up') worst = 'degraded';
    }
    return { status: worst, ready, draining: this.#draining, components };
  }
}
