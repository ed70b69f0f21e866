import assert from "node:assert/strict";
import {
  type ActionName,
  type Effect,
  type Event,
  isStandardCell,
  type State,
  STATE_NAMES,
  transition,
} from "../../../src/core/ul/fsm.ts";

const STATES: State[] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
const EVENTS: Event[] = Array.from({ length: 19 }, (_, i) => `Evt${i + 1}` as Event);

// PS3.8 Table 9-10 written out again. A trailing "*" marks a cell the standard leaves blank,
// holding the action we chose for it.
// deno-fmt-ignore
const EXPECTED: Record<Event, string[]> = {
  //      Sta1     Sta2     Sta3     Sta4     Sta5     Sta6     Sta7     Sta8     Sta9     Sta10    Sta11    Sta12    Sta13
  Evt1:  ["AE-1",  "AA-1*", "AA-8*", "AA-2*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-6*"],
  Evt2:  ["AA-2*", "AA-1*", "AA-8*", "AE-2",  "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-6*"],
  Evt3:  ["AA-2*", "AA-1",  "AA-8",  "AA-2*", "AE-3",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-6" ],
  Evt4:  ["AA-2*", "AA-1",  "AA-8",  "AA-2*", "AE-4",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-6" ],
  Evt5:  ["AE-5",  "AA-1*", "AA-8*", "AA-2*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-6*"],
  Evt6:  ["AA-2*", "AE-6",  "AA-8",  "AA-2*", "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-7" ],
  Evt7:  ["AA-4*", "AA-1*", "AE-7",  "AA-2*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-6*"],
  Evt8:  ["AA-4*", "AA-1*", "AE-8",  "AA-2*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-6*"],
  Evt9:  ["AA-4*", "AA-1*", "AA-8*", "AA-2*", "AA-8*", "DT-1",  "AA-8*", "AR-7",  "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-6*"],
  Evt10: ["AA-2*", "AA-1",  "AA-8",  "AA-2*", "AA-8",  "DT-2",  "AR-6",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-6" ],
  Evt11: ["AA-4*", "AA-1*", "AA-8*", "AA-2*", "AA-8*", "AR-1",  "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-6*"],
  Evt12: ["AA-2*", "AA-1",  "AA-8",  "AA-2*", "AA-8",  "AR-2",  "AR-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-6" ],
  Evt13: ["AA-2*", "AA-1",  "AA-8",  "AA-2*", "AA-8",  "AA-8",  "AR-3",  "AA-8",  "AA-8",  "AR-10", "AR-3",  "AA-8",  "AA-6" ],
  Evt14: ["AA-4*", "AA-1*", "AA-8*", "AA-2*", "AA-8*", "AA-8*", "AA-8*", "AR-4",  "AR-9",  "AA-8*", "AA-8*", "AR-4",  "AA-6*"],
  Evt15: ["AA-5*", "AA-1*", "AA-1",  "AA-2",  "AA-1",  "AA-1",  "AA-1",  "AA-1",  "AA-1",  "AA-1",  "AA-1",  "AA-1",  "AA-6*"],
  Evt16: ["AA-2*", "AA-2",  "AA-3",  "AA-2*", "AA-3",  "AA-3",  "AA-3",  "AA-3",  "AA-3",  "AA-3",  "AA-3",  "AA-3",  "AA-2" ],
  Evt17: ["AA-5*", "AA-5",  "AA-4",  "AA-4",  "AA-4",  "AA-4",  "AA-4",  "AA-4",  "AA-4",  "AA-4",  "AA-4",  "AA-4",  "AR-5" ],
  Evt18: ["AA-5*", "AA-2",  "AA-8*", "AA-2*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-8*", "AA-2" ],
  Evt19: ["AA-2*", "AA-1",  "AA-8",  "AA-2*", "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-8",  "AA-7" ],
};

// PS3.8 Tables 9-6 to 9-9: next state of each action (AR-8 as [requestor, acceptor]).
const NEXT: Record<ActionName, State | [State, State]> = {
  "AE-1": 4,
  "AE-2": 5,
  "AE-3": 6,
  "AE-4": 1,
  "AE-5": 2,
  "AE-6": 3,
  "AE-7": 6,
  "AE-8": 13,
  "DT-1": 6,
  "DT-2": 6,
  "AR-1": 7,
  "AR-2": 8,
  "AR-3": 1,
  "AR-4": 13,
  "AR-5": 1,
  "AR-6": 7,
  "AR-7": 8,
  "AR-8": [9, 10],
  "AR-9": 11,
  "AR-10": 12,
  "AA-1": 13,
  "AA-2": 1,
  "AA-3": 1,
  "AA-4": 1,
  "AA-5": 1,
  "AA-6": 13,
  "AA-7": 13,
  "AA-8": 13,
};

const send = (pdu: string) => ({ kind: "send", pdu });
const indicate = (primitive: string) => ({ kind: "indicate", primitive });
const startArtim = { kind: "startArtim" };
const stopArtim = { kind: "stopArtim" };
const close = { kind: "close" };

// What each action must make the driver do, in order.
const EFFECTS: Record<ActionName, object[]> = {
  "AE-1": [{ kind: "connect" }],
  "AE-2": [send("A-ASSOCIATE-RQ")],
  "AE-3": [indicate("A-ASSOCIATE confirmation (accept)")],
  "AE-4": [indicate("A-ASSOCIATE confirmation (reject)"), close],
  "AE-5": [startArtim],
  "AE-6": [stopArtim, indicate("A-ASSOCIATE indication")],
  "AE-7": [send("A-ASSOCIATE-AC")],
  "AE-8": [send("A-ASSOCIATE-RJ"), startArtim],
  "DT-1": [send("P-DATA-TF")],
  "DT-2": [indicate("P-DATA indication")],
  "AR-1": [send("A-RELEASE-RQ")],
  "AR-2": [indicate("A-RELEASE indication")],
  "AR-3": [indicate("A-RELEASE confirmation"), close],
  "AR-4": [send("A-RELEASE-RP"), startArtim],
  "AR-5": [stopArtim],
  "AR-6": [indicate("P-DATA indication")],
  "AR-7": [send("P-DATA-TF")],
  "AR-8": [indicate("A-RELEASE indication")],
  "AR-9": [send("A-RELEASE-RP")],
  "AR-10": [indicate("A-RELEASE confirmation")],
  "AA-1": [send("A-ABORT"), startArtim],
  "AA-2": [stopArtim, close],
  "AA-3": [indicate("A-ABORT indication"), close],
  "AA-4": [indicate("A-P-ABORT indication")],
  "AA-5": [stopArtim],
  "AA-6": [],
  "AA-7": [send("A-ABORT")],
  "AA-8": [send("A-ABORT"), indicate("A-P-ABORT indication"), startArtim],
};

/** Feeds events in turn, checking each step's action and next state; returns all effects. */
function walk(
  start: State,
  steps: [Event, ActionName, State][],
  isRequestor = false,
): Effect[] {
  let state = start;
  const effects: Effect[] = [];
  for (const [event, action, next] of steps) {
    const t = transition(state, event, isRequestor);
    assert.deepEqual([t.action, t.next], [action, next], `Sta${state} + ${event}`);
    effects.push(...t.effects);
    state = t.next;
  }
  return effects;
}

Deno.test("transition() gives the action of PS3.8 Table 9-10 for every state and event", () => {
  const wrong: string[] = [];
  for (const event of EVENTS) {
    for (const state of STATES) {
      const want = EXPECTED[event][state - 1].replace("*", "");
      for (const isRequestor of [false, true]) {
        const got = transition(state, event, isRequestor).action;
        if (got !== want) wrong.push(`Sta${state} ${event}: ${got}, want ${want}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("isStandardCell() is false exactly for the cells the standard leaves blank", () => {
  const wrong: string[] = [];
  for (const event of EVENTS) {
    for (const state of STATES) {
      const want = !EXPECTED[event][state - 1].endsWith("*");
      if (isStandardCell(state, event) !== want) wrong.push(`Sta${state} ${event}`);
    }
  }
  assert.deepEqual(wrong, []);
  // 247 cells, of which Table 9-10 fills 123.
  const filled = EVENTS.flatMap((e) => STATES.filter((s) => isStandardCell(s, e)));
  assert.equal(filled.length, 123);
});

Deno.test("transition() moves to the next state and effects that PS3.8 9.2.2 gives each action", () => {
  for (const event of EVENTS) {
    for (const state of STATES) {
      for (const isRequestor of [false, true]) {
        const t = transition(state, event, isRequestor);
        const next = NEXT[t.action];
        const want = typeof next === "number" ? next : next[isRequestor ? 0 : 1];
        const where = `Sta${state} ${event} ${t.action}`;
        assert.equal(t.next, want, where);
        assert.deepEqual(t.effects, EFFECTS[t.action], where);
      }
    }
  }
});

Deno.test("acceptor happy path: connect, associate, data, peer releases, transport closes", () => {
  const effects = walk(1, [
    ["Evt5", "AE-5", 2],
    ["Evt6", "AE-6", 3],
    ["Evt7", "AE-7", 6],
    ["Evt10", "DT-2", 6],
    ["Evt9", "DT-1", 6],
    ["Evt12", "AR-2", 8],
    ["Evt14", "AR-4", 13],
    ["Evt17", "AR-5", 1],
  ]);
  assert.deepEqual(effects, [
    startArtim,
    stopArtim,
    indicate("A-ASSOCIATE indication"),
    send("A-ASSOCIATE-AC"),
    indicate("P-DATA indication"),
    send("P-DATA-TF"),
    indicate("A-RELEASE indication"),
    send("A-RELEASE-RP"),
    startArtim,
    stopArtim,
  ]);
});

Deno.test("acceptor that rejects sends A-ASSOCIATE-RJ and closes when ARTIM expires", () => {
  const effects = walk(1, [
    ["Evt5", "AE-5", 2],
    ["Evt6", "AE-6", 3],
    ["Evt8", "AE-8", 13],
    ["Evt18", "AA-2", 1],
  ]);
  assert.deepEqual(effects.slice(3), [send("A-ASSOCIATE-RJ"), startArtim, stopArtim, close]);
});

Deno.test("requestor happy path: connect, associate, data, release, confirmation closes", () => {
  const effects = walk(1, [
    ["Evt1", "AE-1", 4],
    ["Evt2", "AE-2", 5],
    ["Evt3", "AE-3", 6],
    ["Evt9", "DT-1", 6],
    ["Evt10", "DT-2", 6],
    ["Evt11", "AR-1", 7],
    ["Evt10", "AR-6", 7],
    ["Evt13", "AR-3", 1],
  ], true);
  assert.deepEqual(effects, [
    { kind: "connect" },
    send("A-ASSOCIATE-RQ"),
    indicate("A-ASSOCIATE confirmation (accept)"),
    send("P-DATA-TF"),
    indicate("P-DATA indication"),
    send("A-RELEASE-RQ"),
    indicate("P-DATA indication"),
    indicate("A-RELEASE confirmation"),
    close,
  ]);
});

Deno.test("requestor rejected by the peer reports the rejection and closes", () => {
  const effects = walk(1, [
    ["Evt1", "AE-1", 4],
    ["Evt2", "AE-2", 5],
    ["Evt4", "AE-4", 1],
  ], true);
  assert.deepEqual(effects.slice(2), [indicate("A-ASSOCIATE confirmation (reject)"), close]);
});

Deno.test("release collision, requestor side: answers the peer first, then gets its reply", () => {
  const effects = walk(6, [
    ["Evt11", "AR-1", 7],
    ["Evt12", "AR-8", 9],
    ["Evt14", "AR-9", 11],
    ["Evt13", "AR-3", 1],
  ], true);
  assert.deepEqual(effects, [
    send("A-RELEASE-RQ"),
    indicate("A-RELEASE indication"),
    send("A-RELEASE-RP"),
    indicate("A-RELEASE confirmation"),
    close,
  ]);
});

Deno.test("release collision, acceptor side: waits for the reply, then answers and waits for close", () => {
  const effects = walk(6, [
    ["Evt11", "AR-1", 7],
    ["Evt12", "AR-8", 10],
    ["Evt13", "AR-10", 12],
    ["Evt14", "AR-4", 13],
    ["Evt17", "AR-5", 1],
  ], false);
  assert.deepEqual(effects, [
    send("A-RELEASE-RQ"),
    indicate("A-RELEASE indication"),
    indicate("A-RELEASE confirmation"),
    send("A-RELEASE-RP"),
    startArtim,
    stopArtim,
  ]);
});

Deno.test("transition() treats the caller as acceptor in a release collision by default", () => {
  assert.equal(transition(7, "Evt12").next, 10);
  assert.equal(transition(7, "Evt12", true).next, 9);
});

Deno.test("ARTIM expiry in Sta2 (no A-ASSOCIATE-RQ in time) closes the connection", () => {
  const t = transition(2, "Evt18");
  assert.deepEqual([t.action, t.next, t.effects], ["AA-2", 1, [stopArtim, close]]);
});

Deno.test("ARTIM expiry in Sta13 (peer never closed) closes the connection", () => {
  const t = transition(13, "Evt18");
  assert.deepEqual([t.action, t.next, t.effects], ["AA-2", 1, [stopArtim, close]]);
});

Deno.test("an invalid PDU (Evt19) aborts the association in every state", () => {
  const got = STATES.map((s) => {
    const t = transition(s, "Evt19");
    return [t.action, t.next, t.effects.some((e) => e.kind === "send" && e.pdu === "A-ABORT")];
  });
  assert.deepEqual(got, [
    ["AA-2", 1, false], // Sta1: no association; drop the stray connection
    ["AA-1", 13, true],
    ["AA-8", 13, true],
    ["AA-2", 1, false], // Sta4: connection not yet open
    ["AA-8", 13, true],
    ["AA-8", 13, true],
    ["AA-8", 13, true],
    ["AA-8", 13, true],
    ["AA-8", 13, true],
    ["AA-8", 13, true],
    ["AA-8", 13, true],
    ["AA-8", 13, true],
    ["AA-7", 13, true],
  ]);
});

Deno.test("P-DATA-TF before the association is established (Sta2) is answered with A-ABORT", () => {
  const t = transition(2, "Evt10");
  assert.deepEqual([t.action, t.next, t.effects], ["AA-1", 13, [send("A-ABORT"), startArtim]]);
});

Deno.test("a second A-ASSOCIATE-RQ on an established association aborts it (AA-8)", () => {
  const t = transition(6, "Evt6");
  assert.equal(t.action, "AA-8");
  assert.equal(t.next, 13);
  assert.deepEqual(t.effects, [send("A-ABORT"), indicate("A-P-ABORT indication"), startArtim]);
});

Deno.test("PDUs arriving after the association ended (Sta13) are ignored, not answered", () => {
  for (const event of ["Evt3", "Evt4", "Evt10", "Evt12", "Evt13"] as const) {
    assert.deepEqual(transition(13, event).effects, [], event);
    assert.equal(transition(13, event).next, 13, event);
  }
});

Deno.test("a peer A-ABORT or a dropped connection on an established association tells the user", () => {
  assert.deepEqual(transition(6, "Evt16").effects, [indicate("A-ABORT indication"), close]);
  assert.deepEqual(transition(6, "Evt17").effects, [indicate("A-P-ABORT indication")]);
  assert.equal(transition(6, "Evt16").next, 1);
  assert.equal(transition(6, "Evt17").next, 1);
});

Deno.test("transition() returns effects the driver cannot modify", () => {
  const t = transition(6, "Evt19");
  assert.throws(() => (t.effects as Effect[]).push({ kind: "close" }), TypeError);
  assert.throws(() => {
    (t.effects[0] as { kind: string }).kind = "close";
  }, TypeError);
  assert.deepEqual(transition(6, "Evt19").effects, EFFECTS["AA-8"]);
});

Deno.test("transition() rejects an unknown state or event", () => {
  assert.throws(() => transition(0 as State, "Evt1"), RangeError);
  assert.throws(() => transition(14 as State, "Evt1"), RangeError);
  assert.throws(() => transition(1, "Evt20" as Event), RangeError);
});

Deno.test("STATE_NAMES names all 13 states with their PS3.8 number", () => {
  for (const s of STATES) assert.match(STATE_NAMES[s], new RegExp(`^Sta${s} \\S`));
  assert.equal(
    STATE_NAMES[6],
    "Sta6 Association established and ready for data transfer",
  );
});
