// The runtime-agnostic core: everything here runs on Deno, Node or a browser alike.
export * from "./ul/pdu_types.ts";
export { decodePdu } from "./ul/pdu_decode.ts";
export { encodePdu } from "./ul/pdu_encode.ts";
export { PduReader } from "./ul/pdu_reader.ts";
export { transition } from "./ul/fsm.ts";
export { negotiateAsAcceptor } from "./ul/negotiation.ts";
export { AcceptorAssociation } from "./ul/acceptor.ts";
export { RequestorAssociation } from "./ul/requestor.ts";
export { decodeCommand, encodeCommand } from "./dimse/command.ts";
export { STORAGE_SOP_CLASSES } from "./dicom/sop_classes.ts";
export { TRANSFER_SYNTAXES } from "./dicom/transfer_syntaxes.ts";
export type * from "./ports.ts";
export { VerificationService } from "./services/echo_scp.ts";
export { echoScu } from "./services/echo_scu.ts";
export { StorageService } from "./services/store_scp.ts";
export { HeaderScanner } from "./dicom/header_scanner.ts";
export { decodeFileMetaInformation, encodeFileMetaInformation } from "./dicom/part10.ts";
export { decodeString, encodeString } from "./dicom/charset.ts";
