import { SpanKind, startSpan, traceparentOf, type Span, type Tracer } from '@portcullis/observability';
import type { Message } from './types.ts';

/**
 * One consumer span per message, the child of its envelope's `traceparent`; each
 * message's `traceparent` becomes its span's, so what the handler sends on joins the
 * trace. None (and nothing changed) with tracing off.
 */
export function startConsumerSpans<T>(tracer: Tracer | undefined, topic: string, group: string, messages: Message<T>[]): Span[] {
  if (tracer === undefined) return [];
  return messages.map((message) => {
    const span = startSpan(tracer, `process ${topic}`, {
      kind: SpanKind.CONSUMER,
      parent: message.traceparent,
      attributes: {
        'messaging.system': 'redis',
        'messaging.operation.type': 'process',
        'messaging.destination.name': topic,
        'messaging.consumer.group.name': group,
        'messaging.message.id': message.id,
        'portcullis.bus.attempt': message.attempt,
      },
    });
    message.traceparent = traceparentOf(span);
    return span;
  });
}
