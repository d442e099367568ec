// What runs in dom0 or the hypervisor: the platform (scheduler, memory, event channels, xenstored).
export { Platform, type PlatformOptions, printable } from "./platform.ts";
export { LocalSocketTransport } from "./xenstored/local-socket.ts";
