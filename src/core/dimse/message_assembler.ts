// Reassembles DIMSE messages from PDVs (PS3.8 Annex E, PS3.7 9.3.1): command fragments
// are gathered and decoded; dataset fragments are passed on one by one, never gathered.

import type { Pdv } from "../ul/pdu_types.ts";
import { concatBytes } from "../dicom/bytes.ts";
import { type Command, commandName, decodeCommand, DimseError, NO_DATASET } from "./command.ts";

export type DimseEvent =
  | { kind: "command"; pcId: number; command: Command; hasDataset: boolean }
  | { kind: "data"; pcId: number; chunk: Uint8Array; isLast: boolean };

const NONE = -1;

export class MessageAssembler {
  #fragments: Uint8Array[] = [];
  #commandBytes = 0;
  /** Presentation context of the command being gathered, or NONE. */
  #commandPc = NONE;
  /** Presentation context whose dataset is expected, or NONE. */
  #dataPc = NONE;
  /** The last complete command, while no new one has started: for error messages. */
  #lastCommand: Command | undefined;

  constructor(readonly maxCommandBytes = 65536) {}

  /** True while a message is partly received (command fragments or dataset not finished). */
  get inProgress(): boolean {
    return this.#commandPc !== NONE || this.#dataPc !== NONE;
  }

  /** Feeds one PDV in arrival order; returns the events it completes (zero or one). */
  accept(pdv: Pdv): DimseEvent[] {
    const pc = pdv.presentationContextId;
    return pdv.isCommand ? this.#acceptCommand(pdv, pc) : [this.#acceptData(pdv, pc)];
  }

  #acceptCommand(pdv: Pdv, pc: number): DimseEvent[] {
    if (this.#dataPc !== NONE) {
      throw new DimseError(
        `command PDV on context ${pc} while the dataset of ${this.#lastName()} on context ${this.#dataPc} is expected`,
      );
    }
    if (this.#commandPc !== NONE && this.#commandPc !== pc) {
      throw new DimseError(
        `command PDV on context ${pc} while a command on context ${this.#commandPc} is incomplete`,
      );
    }
    this.#commandBytes += pdv.data.length;
    if (this.#commandBytes > this.maxCommandBytes) {
      throw new DimseError(
        `command set exceeds ${this.maxCommandBytes} bytes (${this.#commandBytes} so far)`,
      );
    }
    this.#commandPc = pc;
    this.#lastCommand = undefined;
    this.#fragments.push(pdv.data.slice()); // small; outlives the connection's read buffer
    if (!pdv.isLast) return [];

    const bytes = this.#fragments.length === 1 ? this.#fragments[0] : concatBytes(this.#fragments);
    this.#fragments = [];
    this.#commandBytes = 0;
    this.#commandPc = NONE;
    const command = decodeCommand(bytes);
    const hasDataset = command.commandDataSetType !== NO_DATASET;
    this.#lastCommand = command;
    if (hasDataset) this.#dataPc = pc;
    return [{ kind: "command", pcId: pc, command, hasDataset }];
  }

  #acceptData(pdv: Pdv, pc: number): DimseEvent {
    if (this.#dataPc === NONE) {
      if (this.#commandPc !== NONE) {
        throw new DimseError(`data PDV on context ${pc} before the command set was complete`);
      }
      if (this.#lastCommand !== undefined) {
        throw new DimseError(
          `data PDV on context ${pc} after ${this.#lastName()}, which has no dataset`,
        );
      }
      throw new DimseError(`data PDV on context ${pc} with no command before it`);
    }
    if (pc !== this.#dataPc) {
      throw new DimseError(
        `data PDV on context ${pc} for ${this.#lastName()} sent on context ${this.#dataPc}`,
      );
    }
    if (pdv.isLast) {
      this.#dataPc = NONE;
      this.#lastCommand = undefined;
    }
    return { kind: "data", pcId: pc, chunk: pdv.data, isLast: pdv.isLast };
  }

  #lastName(): string {
    return this.#lastCommand ? commandName(this.#lastCommand.commandField) : "the command";
  }
}
