export {
  GNTTAB_RESERVED_XENSTORE,
  RingLink,
  XenstoreRingHost,
  type XenstoreRingHostOptions,
} from "./xenstore-ring-host.ts";
