// Was every allow a real decision? A reference policy-service, never faulted and off the
// bus, is given each policy version an answer named, and asked the same request the
// auth-service would have sent for it; an allow the reference denies, or one naming a
// version nobody put live, was allowed without a policy decision.
import { freePort } from '@portcullis/testing';
import { putPolicies } from '../_calls.ts';
import { startPolicyProcess } from '../_stack.ts';
import type { Answer, Asked } from './traffic.ts';

/** Rebuilds the policy request the auth-service sends (its `toEvaluateRequest`): principal and roles from the token. */
function policyRequest(asked: Asked): unknown {
  const user = { type: 'User', id: asked.principal.sub };
  return {
    principal: user,
    action: { type: 'Action', id: asked.body.action },
    resource: asked.body.resource,
    context: asked.body.context ?? {},
    entities: [{ uid: user, attrs: {}, parents: asked.principal.roles.map((id) => ({ type: 'Role', id })) }],
  };
}

/**
 * The ids of allowed answers that no policy set in force allowed. `texts` maps each
 * version put live to its policies; the reference's own sample schema and entities,
 * which the PUTs keep, complete them.
 */
export async function allowedWithoutDecision(
  answers: Answer[],
  asked: Map<string, Asked>,
  texts: Map<string, string>,
): Promise<Set<string>> {
  const wrong = new Set<string>();
  const byVersion = new Map<string, Answer[]>();
  for (const answer of answers) {
    if (answer.code !== 200 || answer.body?.allowed !== true) continue;
    const version = answer.body.policyVersion ?? '';
    if (!texts.has(version) || !asked.has(answer.id)) {
      wrong.add(answer.id);
      continue;
    }
    byVersion.set(version, [...(byVersion.get(version) ?? []), answer]);
  }
  if (byVersion.size === 0) return wrong;
  const port = await freePort();
  // Never faulted, on no bus: it only answers for the policy set put live on it.
  const reference = await startPolicyProcess(port, { REDIS_URL: undefined });
  const url = `http://127.0.0.1:${port}`;
  try {
    for (const [version, allowed] of byVersion) {
      const live = await putPolicies(url, texts.get(version) as string);
      if (live !== version) throw new Error(`the reference put ${version} live as ${live}: the oracle cannot judge it`);
      for (let i = 0; i < allowed.length; i += 500) {
        const chunk = allowed.slice(i, i + 500);
        const response = await fetch(`${url}/evaluate/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ requests: chunk.map((answer) => policyRequest(asked.get(answer.id) as Asked)) }),
        });
        const { results } = (await response.json()) as { results: { decision?: string }[] };
        chunk.forEach((answer, k) => {
          if (results[k]?.decision !== 'allow') wrong.add(answer.id);
        });
      }
    }
  } finally {
    await reference.stop('SIGKILL');
  }
  return wrong;
}
