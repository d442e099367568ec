// What runs in a domU: the kernel's XenStore client over its ring page, and (later) the drivers.
export { GuestKernel, type GuestResources } from "./kernel.ts";
export type { StartInfo } from "./start-info.ts";
export { isExistErr, isXenbusError, XenbusError } from "./xenbus/xenbus-error.ts";
export {
  format,
  type GatherField,
  joinPath,
  parseUnsigned,
  type TransactionOptions,
  type Tx,
  type WatchCallback,
  XBT_NIL,
  XenbusClient,
  type XenbusClientOptions,
  type XenbusWatch,
} from "./xenbus/xs-client.ts";
export { XsRingTransport, type XsRingTransportOptions } from "./xenbus/xs-ring-transport.ts";
export type { XsTransport } from "./xenbus/xs-transport.ts";
