// `@xensim/xenstore-core/wire`: the XenStore wire codec alone (no store). Guest-side code
// may import this entry only.
export { decodeList, decodeReply, type RequestIds, type XsReply, XsRequest } from "./client.ts";
export {
  isXsErrno,
  XS_ERRNO_NUMBERS,
  XS_ERRORS,
  type XsErrno,
  XsFrameError,
  type XsFrameErrorKind,
} from "./errors.ts";
export {
  decodeHeader,
  encodeFrame,
  encodeHeaderInto,
  frameFits,
  type XsFrame,
  type XsHeader,
} from "./frame.ts";
export { FrameParser, type FrameParserOptions } from "./frame-parser.ts";
export {
  bytesToLatin1,
  concatBytes,
  countNuls,
  decodeWatchEvent,
  decodeWrite,
  encodeString,
  encodeStrings,
  encodeWatchEvent,
  encodeWrite,
  latin1ToBytes,
  splitStrings,
} from "./payload.ts";
export * from "./xs-wire.ts";
