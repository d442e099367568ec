/**
 * @module @xensim/evtchn
 */
export {
  DOMID_FIRST_RESERVED,
  DOMID_SELF,
  DomainEvents,
  type DomainOptions,
  domActor,
  EVTCHNSTAT,
  EventChannels,
  type EventHandler,
  type EvtchnFaults,
  type EvtchnStatusInfo,
  type EvtchnStatusName,
  type NotifyFault,
  NR_VIRQS,
  VIRQ,
} from "./evtchn/event-channels.ts";
export { EVTCHN_2L_NR_CHANNELS, SHARED_INFO_LAYOUT, SharedInfo } from "./evtchn/shared-info.ts";
export {
  fail,
  hypercallReturn,
  ok,
  unwrap,
  XEN_ERRNO,
  type XenErrno,
  type XenResult,
} from "./evtchn/xen-errno.ts";
export {
  parseSchedule,
  policyFor,
  type Schedule,
  scheduleArbitrary,
  scheduleToString,
} from "./sim/fast-check-policy.ts";
export {
  type ChoicePolicy,
  FifoPolicy,
  type ReadyTask,
  RecordingPolicy,
  ScriptedPolicy,
  SeededPolicy,
} from "./sim/policy.ts";
export { Prng } from "./sim/prng.ts";
export {
  type RunOptions,
  type RunResult,
  Scheduler,
  SchedulerLimitError,
  type SchedulerOptions,
  TaskFailedError,
  type TaskFn,
  type TaskHandle,
} from "./sim/scheduler.ts";
export {
  formatTraceRecord,
  Trace,
  type TraceDetails,
  type TraceListener,
  type TraceRecord,
  type TraceValue,
  traceRecordToJson,
} from "./sim/trace.ts";
