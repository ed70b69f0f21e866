// The DICOM Upper Layer protocol state machine (PS3.8 9.2) as data.
//
// `transition(state, event)` looks up Table 9-10 and returns the action to take, the next
// state and the effects the association driver must carry out, in order. Nothing here
// touches a socket or a timer, so every cell can be checked in isolation.
import { type Pdu, PduType } from "./pdu_types.ts";

/** Machine states Sta1..Sta13 (PS3.8 9.2.1). */
export type State = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13;

/** Events Evt1..Evt19 (PS3.8 Table 9-10). */
export type Event =
  | "Evt1" // A-ASSOCIATE request (local user)
  | "Evt2" // Transport connection confirm
  | "Evt3" // A-ASSOCIATE-AC PDU received
  | "Evt4" // A-ASSOCIATE-RJ PDU received
  | "Evt5" // Transport connection indication
  | "Evt6" // A-ASSOCIATE-RQ PDU received
  | "Evt7" // A-ASSOCIATE response primitive (accept)
  | "Evt8" // A-ASSOCIATE response primitive (reject)
  | "Evt9" // P-DATA request primitive
  | "Evt10" // P-DATA-TF PDU received
  | "Evt11" // A-RELEASE request primitive
  | "Evt12" // A-RELEASE-RQ PDU received
  | "Evt13" // A-RELEASE-RP PDU received
  | "Evt14" // A-RELEASE response primitive
  | "Evt15" // A-ABORT request primitive
  | "Evt16" // A-ABORT PDU received
  | "Evt17" // Transport connection closed indication
  | "Evt18" // ARTIM timer expired
  | "Evt19"; // Unrecognized or invalid PDU received

/** Actions of PS3.8 Tables 9-6 to 9-9. */
export type ActionName =
  | "AE-1"
  | "AE-2"
  | "AE-3"
  | "AE-4"
  | "AE-5"
  | "AE-6"
  | "AE-7"
  | "AE-8"
  | "DT-1"
  | "DT-2"
  | "AR-1"
  | "AR-2"
  | "AR-3"
  | "AR-4"
  | "AR-5"
  | "AR-6"
  | "AR-7"
  | "AR-8"
  | "AR-9"
  | "AR-10"
  | "AA-1"
  | "AA-2"
  | "AA-3"
  | "AA-4"
  | "AA-5"
  | "AA-6"
  | "AA-7"
  | "AA-8";

/** What an action does, for the driver to carry out, in order. */
export type Effect =
  | { kind: "connect" } // AE-1: issue TRANSPORT CONNECT
  | {
    kind: "send";
    pdu:
      | "A-ASSOCIATE-RQ"
      | "A-ASSOCIATE-AC"
      | "A-ASSOCIATE-RJ"
      | "P-DATA-TF"
      | "A-RELEASE-RQ"
      | "A-RELEASE-RP"
      | "A-ABORT";
  }
  | {
    kind: "indicate";
    primitive:
      | "A-ASSOCIATE confirmation (accept)"
      | "A-ASSOCIATE confirmation (reject)"
      | "A-ASSOCIATE indication"
      | "P-DATA indication"
      | "A-RELEASE indication"
      | "A-RELEASE confirmation"
      | "A-ABORT indication"
      | "A-P-ABORT indication";
  }
  | { kind: "startArtim" }
  | { kind: "stopArtim" }
  | { kind: "close" }; // close transport connection

/** The PDUs an action sends. */
export type SentPdu = Extract<Effect, { kind: "send" }>["pdu"];
/** The primitives an action passes up to the service user. */
export type IndicatedPrimitive = Extract<Effect, { kind: "indicate" }>["primitive"];

export interface Transition {
  action: ActionName;
  next: State;
  effects: readonly Effect[];
}

export const STATES: readonly State[] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];

export const EVENTS: readonly Event[] = [
  "Evt1",
  "Evt2",
  "Evt3",
  "Evt4",
  "Evt5",
  "Evt6",
  "Evt7",
  "Evt8",
  "Evt9",
  "Evt10",
  "Evt11",
  "Evt12",
  "Evt13",
  "Evt14",
  "Evt15",
  "Evt16",
  "Evt17",
  "Evt18",
  "Evt19",
];

/** PS3.8 Tables 9-1 to 9-5. */
export const STATE_NAMES: Record<State, string> = {
  1: "Sta1 Idle",
  2: "Sta2 Transport connection open (awaiting A-ASSOCIATE-RQ PDU)",
  3: "Sta3 Awaiting local A-ASSOCIATE response primitive (from local user)",
  4: "Sta4 Awaiting transport connection opening to complete (from local transport service)",
  5: "Sta5 Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU",
  6: "Sta6 Association established and ready for data transfer",
  7: "Sta7 Awaiting A-RELEASE-RP PDU",
  8: "Sta8 Awaiting local A-RELEASE response primitive (from local user)",
  9: "Sta9 Release collision requestor side; awaiting A-RELEASE response (from local user)",
  10: "Sta10 Release collision acceptor side; awaiting A-RELEASE-RP PDU",
  11: "Sta11 Release collision requestor side; awaiting A-RELEASE-RP PDU",
  12:
    "Sta12 Release collision acceptor side; awaiting A-RELEASE response primitive (from local user)",
  13: "Sta13 Awaiting transport connection close indication (association no longer exists)",
};

/** PS3.8 Table 9-10, event column. */
export const EVENT_NAMES: Record<Event, string> = {
  Evt1: "A-ASSOCIATE request (local user)",
  Evt2: "Transport connection confirm (local transport service)",
  Evt3: "A-ASSOCIATE-AC PDU received",
  Evt4: "A-ASSOCIATE-RJ PDU received",
  Evt5: "Transport connection indication (local transport service)",
  Evt6: "A-ASSOCIATE-RQ PDU received",
  Evt7: "A-ASSOCIATE response primitive (accept)",
  Evt8: "A-ASSOCIATE response primitive (reject)",
  Evt9: "P-DATA request primitive",
  Evt10: "P-DATA-TF PDU received",
  Evt11: "A-RELEASE request primitive",
  Evt12: "A-RELEASE-RQ PDU received",
  Evt13: "A-RELEASE-RP PDU received",
  Evt14: "A-RELEASE response primitive",
  Evt15: "A-ABORT request primitive",
  Evt16: "A-ABORT PDU received",
  Evt17: "Transport connection closed indication",
  Evt18: "ARTIM timer expired",
  Evt19: "Unrecognized or invalid PDU received",
};

const connect: Effect = { kind: "connect" };
const startArtim: Effect = { kind: "startArtim" };
const stopArtim: Effect = { kind: "stopArtim" };
const close: Effect = { kind: "close" };
const send = (pdu: SentPdu): Effect => ({ kind: "send", pdu });
const indicate = (primitive: IndicatedPrimitive): Effect => ({
  kind: "indicate",
  primitive,
});

interface Action {
  /** Next state; AR-8 alone depends on the role: [requestor, acceptor]. */
  next: State | readonly [State, State];
  effects: readonly Effect[];
}

/** PS3.8 Tables 9-6 to 9-9: what each action does and where it leads. */
const ACTIONS: Record<ActionName, Action> = {
  // PS3.8 Table 9-6, association establishment.
  "AE-1": { next: 4, effects: [connect] },
  "AE-2": { next: 5, effects: [send("A-ASSOCIATE-RQ")] },
  "AE-3": { next: 6, effects: [indicate("A-ASSOCIATE confirmation (accept)")] },
  "AE-4": { next: 1, effects: [indicate("A-ASSOCIATE confirmation (reject)"), close] },
  // The transport connection response is implicit in accepting the socket.
  "AE-5": { next: 2, effects: [startArtim] },
  // The standard lets the provider reject here (send RJ, start ARTIM, Sta13). We always pass
  // the request up: the driver decides acceptance and answers with Evt7 (AE-7: send AC ->
  // Sta6) or Evt8 (AE-8: send RJ, start ARTIM -> Sta13).
  "AE-6": { next: 3, effects: [stopArtim, indicate("A-ASSOCIATE indication")] },
  "AE-7": { next: 6, effects: [send("A-ASSOCIATE-AC")] },
  "AE-8": { next: 13, effects: [send("A-ASSOCIATE-RJ"), startArtim] },
  // PS3.8 Table 9-7, data transfer.
  "DT-1": { next: 6, effects: [send("P-DATA-TF")] },
  "DT-2": { next: 6, effects: [indicate("P-DATA indication")] },
  // PS3.8 Table 9-8, association release.
  "AR-1": { next: 7, effects: [send("A-RELEASE-RQ")] },
  "AR-2": { next: 8, effects: [indicate("A-RELEASE indication")] },
  "AR-3": { next: 1, effects: [indicate("A-RELEASE confirmation"), close] },
  "AR-4": { next: 13, effects: [send("A-RELEASE-RP"), startArtim] },
  "AR-5": { next: 1, effects: [stopArtim] },
  "AR-6": { next: 7, effects: [indicate("P-DATA indication")] },
  "AR-7": { next: 8, effects: [send("P-DATA-TF")] },
  // Release collision (PS3.8 7.2.2.7): the requestor answers first (Sta9), the acceptor waits.
  "AR-8": { next: [9, 10], effects: [indicate("A-RELEASE indication")] },
  "AR-9": { next: 11, effects: [send("A-RELEASE-RP")] },
  "AR-10": { next: 12, effects: [indicate("A-RELEASE confirmation")] },
  // PS3.8 Table 9-9, association abort.
  // AA-1: A-ABORT with source service-user (0); ARTIM started or restarted.
  "AA-1": { next: 13, effects: [send("A-ABORT"), startArtim] },
  // AA-2: stopArtim is harmless when ARTIM is not running.
  "AA-2": { next: 1, effects: [stopArtim, close] },
  // AA-3: the driver issues A-P-ABORT instead when the received A-ABORT's source is the
  // service provider (2).
  "AA-3": { next: 1, effects: [indicate("A-ABORT indication"), close] },
  "AA-4": { next: 1, effects: [indicate("A-P-ABORT indication")] },
  "AA-5": { next: 1, effects: [stopArtim] },
  "AA-6": { next: 13, effects: [] }, // ignore
  // AA-7 and AA-8: A-ABORT with source service-provider (2); reason per the error.
  "AA-7": { next: 13, effects: [send("A-ABORT")] },
  "AA-8": {
    next: 13,
    effects: [send("A-ABORT"), indicate("A-P-ABORT indication"), startArtim],
  },
};
for (const action of Object.values(ACTIONS)) {
  action.effects.forEach((e) => Object.freeze(e));
  Object.freeze(action.effects);
}

type Cell = ActionName | null;
type Row = readonly [Cell, Cell, Cell, Cell, Cell, Cell, Cell, Cell, Cell, Cell, Cell, Cell, Cell];
const _ = null;

/**
 * PS3.8 Table 9-10 exactly as published: `_` marks a cell the standard leaves blank
 * (an event that cannot or should not occur in that state). `fillBlank` decides those.
 */
// deno-fmt-ignore
const TABLE_9_10: Readonly<Record<Event, Row>> = {
  //      Sta1    Sta2    Sta3    Sta4    Sta5    Sta6    Sta7    Sta8    Sta9    Sta10    Sta11   Sta12   Sta13
  Evt1:  ["AE-1", _,      _,      _,      _,      _,      _,      _,      _,      _,       _,      _,      _     ],
  Evt2:  [_,      _,      _,      "AE-2", _,      _,      _,      _,      _,      _,       _,      _,      _     ],
  Evt3:  [_,      "AA-1", "AA-8", _,      "AE-3", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8",  "AA-8", "AA-8", "AA-6"],
  Evt4:  [_,      "AA-1", "AA-8", _,      "AE-4", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8",  "AA-8", "AA-8", "AA-6"],
  Evt5:  ["AE-5", _,      _,      _,      _,      _,      _,      _,      _,      _,       _,      _,      _     ],
  Evt6:  [_,      "AE-6", "AA-8", _,      "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8",  "AA-8", "AA-8", "AA-7"],
  Evt7:  [_,      _,      "AE-7", _,      _,      _,      _,      _,      _,      _,       _,      _,      _     ],
  Evt8:  [_,      _,      "AE-8", _,      _,      _,      _,      _,      _,      _,       _,      _,      _     ],
  Evt9:  [_,      _,      _,      _,      _,      "DT-1", _,      "AR-7", _,      _,       _,      _,      _     ],
  Evt10: [_,      "AA-1", "AA-8", _,      "AA-8", "DT-2", "AR-6", "AA-8", "AA-8", "AA-8",  "AA-8", "AA-8", "AA-6"],
  Evt11: [_,      _,      _,      _,      _,      "AR-1", _,      _,      _,      _,       _,      _,      _     ],
  Evt12: [_,      "AA-1", "AA-8", _,      "AA-8", "AR-2", "AR-8", "AA-8", "AA-8", "AA-8",  "AA-8", "AA-8", "AA-6"],
  Evt13: [_,      "AA-1", "AA-8", _,      "AA-8", "AA-8", "AR-3", "AA-8", "AA-8", "AR-10", "AR-3", "AA-8", "AA-6"],
  Evt14: [_,      _,      _,      _,      _,      _,      _,      "AR-4", "AR-9", _,       _,      "AR-4", _     ],
  Evt15: [_,      _,      "AA-1", "AA-2", "AA-1", "AA-1", "AA-1", "AA-1", "AA-1", "AA-1",  "AA-1", "AA-1", _     ],
  Evt16: [_,      "AA-2", "AA-3", _,      "AA-3", "AA-3", "AA-3", "AA-3", "AA-3", "AA-3",  "AA-3", "AA-3", "AA-2"],
  Evt17: [_,      "AA-5", "AA-4", "AA-4", "AA-4", "AA-4", "AA-4", "AA-4", "AA-4", "AA-4",  "AA-4", "AA-4", "AR-5"],
  Evt18: [_,      "AA-2", _,      _,      _,      _,      _,      _,      _,      _,       _,      _,      "AA-2"],
  Evt19: [_,      "AA-1", "AA-8", _,      "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8",  "AA-8", "AA-8", "AA-7"],
};

/** Local user primitives that need an association (or one being set up). */
const USER_PRIMITIVES: ReadonlySet<Event> = new Set(["Evt7", "Evt8", "Evt9", "Evt11", "Evt14"]);

/**
 * The action for a cell the standard leaves blank, in the spirit of its filled cells:
 * - Sta1 (no transport): a transport confirm or PDU closes the stray connection (AA-2); a
 *   primitive that needs an association tells the user there is none (AA-4); an abort
 *   request, a close or a timer expiry is stale and changes nothing (AA-5).
 * - Sta2 (transport open, no association yet): abort as for an unexpected PDU (AA-1).
 * - Sta4 (connection still opening): give up the attempt as on an abort request (AA-2).
 * - Sta3, Sta5..Sta12: an unexpected event is a protocol error: provider abort (AA-8). ARTIM
 *   expiring here means the peer never answered.
 * - Sta13 (association gone): ignore, as for late PDUs (AA-6).
 */
function fillBlank(state: State, event: Event): ActionName {
  switch (state) {
    case 1:
      if (USER_PRIMITIVES.has(event)) return "AA-4";
      if (event === "Evt15" || event === "Evt17" || event === "Evt18") return "AA-5";
      return "AA-2";
    case 2:
      return "AA-1";
    case 4:
      return "AA-2";
    case 13:
      return "AA-6";
    default:
      return "AA-8";
  }
}

/** True when PS3.8 Table 9-10 itself fills this cell (false: `fillBlank` chose the action). */
export function isStandardCell(state: State, event: Event): boolean {
  return row(event)[state - 1] !== null;
}

function row(event: Event): Row {
  const r = TABLE_9_10[event];
  if (r === undefined) throw new RangeError(`unknown event ${String(event)}`);
  return r;
}

/**
 * The action for `event` in `state`, the next state and its effects (PS3.8 9.2.3).
 * `isRequestor` resolves AR-8 (release collision): Sta9 for the association-requestor,
 * Sta10 for the acceptor.
 */
export function transition(state: State, event: Event, isRequestor = false): Transition {
  if (!STATES.includes(state)) throw new RangeError(`unknown state ${String(state)}`);
  const action = row(event)[state - 1] ?? fillBlank(state, event);
  const { next, effects } = ACTIONS[action];
  return {
    action,
    next: typeof next === "number" ? next : next[isRequestor ? 0 : 1],
    effects,
  };
}

/** The event a received PDU raises (PS3.8 Table 9-10, Evt3 to Evt16). */
export function eventOfPdu(pdu: Pdu): Event {
  switch (pdu.type) {
    case PduType.AAssociateRq:
      return "Evt6";
    case PduType.AAssociateAc:
      return "Evt3";
    case PduType.AAssociateRj:
      return "Evt4";
    case PduType.PDataTf:
      return "Evt10";
    case PduType.AReleaseRq:
      return "Evt12";
    case PduType.AReleaseRp:
      return "Evt13";
    case PduType.AAbort:
      return "Evt16";
  }
}
