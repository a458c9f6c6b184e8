// The one way client traffic reaches the server. A frame that carries a statement or its
// parameters (Query, Parse, Bind) goes only under a Permit, which only the gate and the review
// runner hand out; frames that run nothing by themselves (Sync, Flush, Describe, Execute and
// Close of what was decided, COPY data) are relayed, and a statement-carrying frame offered as
// one is refused at run time. The gateway's own messages (stand-ins, internal queries) are
// written as they are.
import type { Duplex } from 'node:stream';
import type { GateDecision, Permit } from '../../pipeline/permit.ts';
import { Frontend } from './codec/constants.ts';
import { Forwarder } from '../../pipeline/forwarder.ts';

/** Frame types that make the server prepare or run a statement, by their first byte. */
const DECIDED_ONLY = new Uint8Array(256);
for (const t of [Frontend.Query, Frontend.Parse, Frontend.Bind, Frontend.FunctionCall]) DECIDED_ONLY[t] = 1;

export class UndecidedFrame extends Error {
  constructor(type: number) {
    super(`a ${String.fromCharCode(type)} message reached the upstream writer without a decision`);
  }
}

export class UpstreamWriter {
  readonly #out: Forwarder;

  constructor(socket: Duplex) {
    this.#out = new Forwarder(socket);
  }

  /** A statement-carrying frame the gate allowed (or a review approved). */
  forward(frame: Buffer, permit: Permit): void {
    void permit;
    this.#out.add(frame);
  }

  /**
   * A Parse the gate sent for review: preparing runs nothing, and every Bind to the statement
   * is reviewed with its parameters. Never a denied one (it is not prepared upstream at all).
   */
  prepare(frame: Buffer, decision: GateDecision): void {
    if (decision.verdict === 'deny' || frame[0] !== Frontend.Parse) throw new UndecidedFrame(frame[0] ?? 0);
    this.#out.add(frame);
  }

  /** A frame that runs nothing by itself. */
  relay(frame: Buffer): void {
    if (DECIDED_ONLY[frame[0] ?? 0] === 1) throw new UndecidedFrame(frame[0] ?? 0);
    this.#out.add(frame);
  }

  /** A message of the gateway's own, after what is queued. */
  write(bytes: Buffer): void {
    this.#out.write(bytes);
  }

  flush(): void {
    this.#out.flush();
  }
}
