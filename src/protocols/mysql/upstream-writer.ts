// The one way client traffic reaches the server. A command that carries a statement or names
// one to run (COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_INIT_DB, COM_FIELD_LIST,
// COM_PROCESS_KILL) goes only under a Permit, which only the gate and the review runner hand
// out; packets that run nothing by themselves (COM_PING, COM_STMT_CLOSE, file data the
// server asked for after an allowed LOAD DATA LOCAL) are relayed, and a statement-carrying
// command offered as one is refused at run time. The gateway's own packets are written as
// they are.
import type { Socket } from 'node:net';
import type { GateDecision, Permit } from '../../pipeline/permit.ts';
import { Com, HEADER_LENGTH } from './codec/constants.ts';
import { Forwarder } from '../../pipeline/forwarder.ts';

const DECIDED_ONLY = new Uint8Array(256);
for (const c of [Com.QUERY, Com.STMT_PREPARE, Com.STMT_EXECUTE, Com.INIT_DB, Com.FIELD_LIST, Com.PROCESS_KILL, Com.STMT_SEND_LONG_DATA, Com.CHANGE_USER]) DECIDED_ONLY[c] = 1;

export class UndecidedCommand extends Error {
  constructor(command: number) {
    super(`command 0x${command.toString(16)} reached the upstream writer without a decision`);
  }
}

export class UpstreamWriter {
  readonly #out: Forwarder;

  constructor(socket: Socket) {
    this.#out = new Forwarder(socket);
  }

  /** A command (its packets as received) the gate allowed, or a review approved. */
  forward(raw: Buffer, permit: Permit): void {
    void permit;
    this.#out.add(raw);
  }

  /**
   * A COM_STMT_PREPARE the gate sent for review, or a SEND_LONG_DATA to such a statement:
   * preparing runs nothing, and every execute of it is reviewed with its parameters. Never a
   * denied one (it is not prepared upstream at all).
   */
  prepare(raw: Buffer, decision: GateDecision): void {
    const command = raw[HEADER_LENGTH] ?? 0;
    if (decision.verdict !== 'review' || (command !== Com.STMT_PREPARE && command !== Com.STMT_SEND_LONG_DATA)) throw new UndecidedCommand(command);
    this.#out.add(raw);
  }

  /** A command that runs nothing by itself. */
  relay(raw: Buffer): void {
    if (DECIDED_ONLY[raw[HEADER_LENGTH] ?? 0] === 1) throw new UndecidedCommand(raw[HEADER_LENGTH] ?? 0);
    this.#out.add(raw);
  }

  /** File contents the server asked for after an allowed LOAD DATA LOCAL INFILE (any first byte). */
  relayData(raw: Buffer): void {
    this.#out.add(raw);
  }

  /** Packets of the gateway's own (an empty file, an internal query), after what is queued. */
  write(bytes: Buffer): void {
    this.#out.write(bytes);
  }

  flush(): void {
    this.#out.flush();
  }
}
