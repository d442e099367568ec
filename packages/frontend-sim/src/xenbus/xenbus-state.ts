/** enum xenbus_state (xen/include/public/io/xenbus.h), written to `<dir>/state` as decimal text. */
export const XenbusState = {
  Unknown: 0,
  Initialising: 1,
  InitWait: 2,
  Initialised: 3,
  Connected: 4,
  Closing: 5,
  Closed: 6,
  Reconfiguring: 7,
  Reconfigured: 8,
} as const;
export type XenbusState = (typeof XenbusState)[keyof typeof XenbusState];

/** xenbus_strstate's names, indexed by state number. */
export const XENBUS_STATE_NAMES = [
  "Unknown",
  "Initialising",
  "InitWait",
  "Initialised",
  "Connected",
  "Closing",
  "Closed",
  "Reconfiguring",
  "Reconfigured",
] as const;

/** xenbus_strstate: the name, or "INVALID". */
export function xenbusStateName(s: number): string {
  return XENBUS_STATE_NAMES[s] ?? "INVALID";
}

/** xenbus_read_driver_state's parse: "%d", anything else (or a missing node) is Unknown. */
export function parseXenbusState(text: string | undefined): XenbusState {
  if (text === undefined || !/^\s*[+-]?\d+/.test(text)) return XenbusState.Unknown;
  const n = Number.parseInt(text, 10);
  return (n >= 0 && n <= 8 ? n : XenbusState.Unknown) as XenbusState;
}
