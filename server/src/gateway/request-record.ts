/** One /v1 request's audit row, filled in as the request goes and handed to the write-behind once. */
import type { AuditInput } from '../store/store.js';
import type { Usage } from './sse.js';
import type { WriteBehind } from './write-behind.js';

export class RequestRecord {
  userId: string | null = null;
  keyId: string | null = null;
  /** The id the client asked for (before alias mapping), cut to 128 characters. */
  model: string | null = null;
  private recorded = false;

  constructor(
    private readonly writes: WriteBehind<AuditInput>,
    private readonly started: number,
    readonly at: Date,
    private readonly method: string,
    /** The endpoint as routed, or the path as sent (cut) for unknown ones. */
    private readonly path: string,
    public action: string,
    private readonly sessionId: string | null,
  ) {}

  /** Queues the row with the status the client was sent; later calls are ignored. */
  finish(status: number, usage?: Usage): void {
    if (this.recorded) return;
    this.recorded = true;
    this.writes.record({
      at: this.at,
      kind: 'gateway',
      action: this.action,
      user_id: this.userId,
      key_id: this.keyId,
      session_id: this.sessionId,
      method: this.method,
      path: this.path,
      model: this.model,
      status,
      latency_ms: Math.round((performance.now() - this.started) * 100) / 100,
      input_tokens: usage?.input_tokens ?? null,
      output_tokens: usage?.output_tokens ?? null,
    });
  }
}
