import assert from "node:assert/strict";
import {
  type Command,
  CommandField,
  commandName,
  decodeCommand,
  DimseError,
  encodeCommand,
  hasDataset,
  NO_DATASET,
  Priority,
} from "../../../src/core/dimse/command.ts";

/** One Implicit VR LE element: tag group, element, value bytes. */
function element(group: number, elem: number, value: number[] | string): number[] {
  const bytes = typeof value === "string" ? [...value].map((c) => c.charCodeAt(0)) : value;
  const n = bytes.length;
  return [
    group & 0xff,
    group >> 8,
    elem & 0xff,
    elem >> 8,
    n & 0xff,
    (n >> 8) & 0xff,
    (n >> 16) & 0xff,
    n >>> 24,
    ...bytes,
  ];
}
const us = (n: number) => [n & 0xff, n >> 8];

// C-ECHO-RQ, message id 7, written out by hand (PS3.7 9.3.5.1, E.1).
const ECHO_RQ = new Uint8Array([
  ...element(0x0000, 0x0000, [56, 0, 0, 0]), // group length: 26 + 3 * 10
  ...element(0x0000, 0x0002, "1.2.840.10008.1.1\0"), // 17 chars + NUL pad
  ...element(0x0000, 0x0100, us(0x0030)),
  ...element(0x0000, 0x0110, us(7)),
  ...element(0x0000, 0x0800, us(0x0101)),
]);

Deno.test("encodeCommand() writes a C-ECHO-RQ byte for byte with its group length", () => {
  const bytes = encodeCommand({
    commandField: CommandField.CEchoRq,
    commandDataSetType: NO_DATASET,
    messageId: 7,
    affectedSopClassUid: "1.2.840.10008.1.1",
  });
  assert.deepEqual(bytes, ECHO_RQ);
});

Deno.test("decodeCommand() reads a hand-written C-ECHO-RQ", () => {
  assert.deepEqual(decodeCommand(ECHO_RQ), {
    commandField: CommandField.CEchoRq,
    commandDataSetType: NO_DATASET,
    messageId: 7,
    affectedSopClassUid: "1.2.840.10008.1.1",
  });
});

Deno.test("encodeCommand() then decodeCommand() keeps every modelled field", () => {
  const cmd: Command = {
    commandField: CommandField.CMoveRsp,
    commandDataSetType: 0x0001,
    messageId: 1,
    messageIdBeingRespondedTo: 65535,
    affectedSopClassUid: "1.2.840.10008.5.1.4.1.2.2.2",
    requestedSopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    affectedSopInstanceUid: "1.2.3.4",
    requestedSopInstanceUid: "1.2.3.45",
    priority: Priority.High,
    status: 0xb000,
    offendingElement: [0x00100010, 0x7fe00010],
    errorComment: "Some sub-operations failed",
    errorId: 3,
    moveDestination: "VIEWER",
    moveOriginatorAeTitle: "WORKSTATION1",
    moveOriginatorMessageId: 12,
    numberOfRemainingSuboperations: 0,
    numberOfCompletedSuboperations: 10,
    numberOfFailedSuboperations: 2,
    numberOfWarningSuboperations: 1,
  };
  assert.deepEqual(decodeCommand(encodeCommand(cmd)), cmd);
});

Deno.test("encodeCommand() orders elements by tag and counts them all in the group length", () => {
  const bytes = encodeCommand({
    commandField: CommandField.CStoreRq,
    commandDataSetType: 0x0000,
    messageId: 2,
    priority: Priority.Medium,
    affectedSopInstanceUid: "1.2.3",
    affectedSopClassUid: "1.2.840.10008.5.1.4.1.1.7",
    moveOriginatorAeTitle: "MOVER",
    other: [{ tag: 0x00004000, value: new Uint8Array([0x41, 0x42]) }],
  });
  const dv = new DataView(bytes.buffer);
  const tags: number[] = [];
  let off = 0;
  while (off < bytes.length) {
    tags.push(dv.getUint16(off + 2, true));
    off += 8 + dv.getUint32(off + 4, true);
  }
  assert.equal(off, bytes.length);
  assert.deepEqual(tags, [0x0000, 0x0002, 0x0100, 0x0110, 0x0700, 0x0800, 0x1000, 0x1030, 0x4000]);
  assert.equal(dv.getUint32(8, true), bytes.length - 12);
});

Deno.test("encodeCommand() pads UIDs with NUL and AE titles with space to even length", () => {
  const bytes = encodeCommand({
    commandField: CommandField.CMoveRq,
    commandDataSetType: 0x0000,
    affectedSopClassUid: "1.2.3",
    moveDestination: "DEST",
    moveOriginatorAeTitle: "ODD",
  });
  const text = String.fromCharCode(...bytes);
  assert.ok(text.includes("1.2.3\0"));
  assert.ok(text.includes("ODD "));
  assert.ok(text.includes("DEST"));
  assert.equal(bytes.length % 2, 0);
});

Deno.test("encodeCommand() cuts an Error Comment to 64 characters", () => {
  const cmd = decodeCommand(encodeCommand({
    commandField: CommandField.CStoreRsp,
    commandDataSetType: NO_DATASET,
    status: 0xc000,
    errorComment: "x".repeat(100),
  }));
  assert.equal(cmd.errorComment, "x".repeat(64));
});

Deno.test("encodeCommand() refuses a message id that does not fit in US", () => {
  assert.throws(
    () =>
      encodeCommand({
        commandField: CommandField.CEchoRq,
        commandDataSetType: NO_DATASET,
        messageId: 70000,
      }),
    DimseError,
  );
});

Deno.test("decodeCommand() strips trailing NULs and spaces from UIDs and AE titles", () => {
  const cmd = decodeCommand(
    new Uint8Array([
      ...element(0x0000, 0x0002, "1.2.840.10008.5.1.4.1.2.2.2\0\0\0 "),
      ...element(0x0000, 0x0100, us(0x0021)),
      ...element(0x0000, 0x0600, "  STORESCP   \0"),
      ...element(0x0000, 0x0800, us(0x0000)),
    ]),
  );
  assert.equal(cmd.affectedSopClassUid, "1.2.840.10008.5.1.4.1.2.2.2");
  assert.equal(cmd.moveDestination, "STORESCP");
  assert.equal(commandName(cmd.commandField), "C-MOVE-RQ");
  assert.ok(hasDataset(cmd));
});

Deno.test("decodeCommand() keeps retired elements and gives them back on encode", () => {
  const bytes = new Uint8Array([
    // no group length at all
    ...element(0x0000, 0x0100, us(0x0001)),
    ...element(0x0000, 0x0110, us(3)),
    ...element(0x0000, 0x0800, us(0xfefe)),
    ...element(0x0000, 0x4000, "RETIRED "), // (0000,4000) Comments, retired
    ...element(0x0000, 0x5010, "1"), // (0000,5010) Message Set ID, retired, odd length
  ]);
  const cmd = decodeCommand(bytes);
  assert.equal(cmd.commandDataSetType, 0xfefe);
  assert.ok(hasDataset(cmd));
  assert.deepEqual(cmd.other?.map((o) => o.tag), [0x00004000, 0x00005010]);
  const again = decodeCommand(encodeCommand(cmd));
  assert.deepEqual(again, cmd);
});

Deno.test("decodeCommand() reads a command without (0000,0800) as having no dataset", () => {
  const cmd = decodeCommand(
    new Uint8Array([...element(0, 0x0100, us(0x0fff)), ...element(0, 0x0120, us(9))]),
  );
  assert.equal(commandName(cmd.commandField), "C-CANCEL-RQ");
  assert.equal(cmd.messageIdBeingRespondedTo, 9);
  assert.equal(hasDataset(cmd), false);
});

Deno.test("decodeCommand() rejects a command set without a Command Field", () => {
  assert.throws(
    () => decodeCommand(new Uint8Array(element(0, 0x0110, us(1)))),
    (e: unknown) => e instanceof DimseError && e.message.includes("(0000,0100)"),
  );
});

Deno.test("decodeCommand() rejects a value running past the end", () => {
  const bytes = ECHO_RQ.slice(0, ECHO_RQ.length - 1);
  assert.throws(() => decodeCommand(bytes), DimseError);
});

Deno.test("decodeCommand() rejects a cut element header", () => {
  const bytes = new Uint8Array([...element(0, 0x0100, us(0x0030)), 0, 0, 0x00, 0x08]);
  assert.throws(() => decodeCommand(bytes), /truncated/);
});

Deno.test("decodeCommand() rejects elements outside group 0000", () => {
  const bytes = new Uint8Array([
    ...element(0, 0x0100, us(0x0030)),
    ...element(0x0008, 0x0016, "1.2\0"),
  ]);
  assert.throws(() => decodeCommand(bytes), /\(0008,0016\)/);
});

Deno.test("decodeCommand() rejects an undefined length", () => {
  const bytes = new Uint8Array([0, 0, 0x02, 0, 0xff, 0xff, 0xff, 0xff]);
  assert.throws(() => decodeCommand(bytes), /undefined length/);
});

Deno.test("decodeCommand() rejects a one-byte US value", () => {
  const bytes = new Uint8Array(element(0, 0x0100, [0x30]));
  assert.throws(() => decodeCommand(bytes), DimseError);
});

Deno.test("commandName() names C and N services and shows unknown fields in hex", () => {
  assert.equal(commandName(CommandField.CStoreRq), "C-STORE-RQ");
  assert.equal(commandName(CommandField.CFindRsp), "C-FIND-RSP");
  assert.equal(commandName(CommandField.NEventReportRsp), "N-EVENT-REPORT-RSP");
  assert.equal(commandName(0x1234), "0x1234");
  assert.equal(commandName(0xab), "0x00AB");
});
