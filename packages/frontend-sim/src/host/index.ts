// What runs in dom0 or the hypervisor: the platform, dom0's kernel, the toolstack, the machine.
export { Dom0Kernel } from "./dom0-kernel.ts";
export { type Guest, Machine, type MachineOptions } from "./machine.ts";
export { Platform, type PlatformOptions, printable } from "./platform.ts";
export {
  backendPath,
  type DeviceSpec,
  frontendPath,
  libxlPath,
  type VbdConfig,
  type VbdPhysical,
  type VifConfig,
  vbdDevid,
  vbdSpec,
  vifSpec,
} from "./toolstack/device-spec.ts";
export {
  type CreateDomainOptions,
  LIBXL_DESTROY_TIMEOUT_NS,
  LIBXL_INIT_TIMEOUT_NS,
  Toolstack,
  ToolstackError,
} from "./toolstack/toolstack.ts";
export { LocalSocketTransport } from "./xenstored/local-socket.ts";
