import { promiseHooks } from "node:v8";
import { MessageChannel } from "node:worker_threads";
import { type ChoicePolicy, FifoPolicy, type ReadyTask } from "./policy.ts";
import { Trace, type TraceOptions } from "./trace.ts";

/** A unit of work posted to an actor. Runs to completion (or to its first `await`). */
export type TaskFn = () => unknown;

/**
 * A posted task; it is also the poster's `TaskHandle` (a method on the class rather than a
 * per-post closure: `post` runs ~1,400 times per simulated boot, and a fresh closure per call was
 * a measurable share of it).
 */
class Task implements ReadyTask, TaskHandle {
  cancelled: boolean;
  constructor(
    readonly id: number,
    readonly seq: number,
    readonly actor: string,
    readonly label: string,
    readonly fn: TaskFn,
    readonly readyAt: number,
    cancelled: boolean,
  ) {
    this.cancelled = cancelled;
  }
  cancel(): void {
    this.cancelled = true;
  }
}

/** Returned by `post`; lets the poster cancel a task that has not run yet. */
export interface TaskHandle {
  readonly id: number;
  cancel(): void;
}

export interface SchedulerOptions {
  readonly policy?: ChoicePolicy;
  /** Virtual nanoseconds one task step costs (default 100 ns). */
  readonly stepNs?: number;
  readonly trace?: TraceOptions;
}

export interface RunOptions {
  /** Stop (without error) once this returns true; checked before every step. */
  readonly until?: () => boolean;
  /** Fail with `SchedulerLimitError` after this many steps (default 10 million): catches livelock. */
  readonly maxSteps?: number;
  /** Stop (without error) when virtual time would pass this many nanoseconds. */
  readonly maxTimeNs?: number;
}

export type RunOutcome = "idle" | "until" | "time";

export interface RunResult {
  readonly outcome: RunOutcome;
  readonly steps: number;
  readonly timeNs: number;
}

/** A task threw (or its promise rejected): a bug in the simulated code, reported with where it ran. */
export class TaskFailedError extends Error {
  constructor(
    readonly actor: string,
    readonly label: string,
    readonly step: number,
    override readonly cause: unknown,
  ) {
    super(
      `task ${actor}:${label} failed at step ${step}: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = "TaskFailedError";
  }
}

export class SchedulerLimitError extends Error {
  constructor(readonly steps: number) {
    super(`scheduler: no quiescence after ${steps} steps (livelock?)`);
    this.name = "SchedulerLimitError";
  }
}

/**
 * The discrete-event scheduler every asynchronous hop of the simulated machine goes through.
 *
 * - Each actor (a domain's vCPU, xenstored, the toolstack, a backend kernel thread) has a FIFO queue
 *   of ready tasks; the choice *between* actors is the policy's (FIFO, seeded PRNG, fast-check).
 * - Delayed tasks wait in a timer heap on virtual time; time jumps to the next timer when nothing is
 *   ready. Nothing reads a wall clock.
 * - Between two steps, `run` lets promise continuations settle (microtask turns after every step,
 *   a full macrotask drain regularly and before declaring idle), so the code after an `await`
 *   normally runs as part of the step that resolved it; in every case the interleaving is a pure
 *   function of the code and the seed.
 */
export class Scheduler {
  readonly trace: Trace;
  private policy: ChoicePolicy;
  private readonly stepNs: number;
  private nowNs = 0;
  private nextId = 1;
  private nextSeq = 0;
  private stepCount = 0;
  /** Actor name → its ready queue. */
  private readonly queues = new Map<string, ActorQueue>();
  /** Queues that may hold ready tasks (the candidates are sorted by seq, so order here is free). */
  private readonly active: ActorQueue[] = [];
  private readyCount = 0;
  private readonly timers: Task[] = [];
  private failure: TaskFailedError | null = null;
  private currentActor: string | null = null;
  private currentLabel: string | null = null;

  constructor(options: SchedulerOptions = {}) {
    this.policy = options.policy ?? new FifoPolicy();
    this.stepNs = options.stepNs ?? 100;
    this.trace = new Trace(() => this.nowNs, options.trace);
    promiseJobs.install();
  }

  /** Virtual time in nanoseconds. */
  get now(): number {
    return this.nowNs;
  }

  get steps(): number {
    return this.stepCount;
  }

  /** The actor whose task is running (null between steps). */
  get actor(): string | null {
    return this.currentActor;
  }

  get policyName(): string {
    return this.policy.name;
  }

  setPolicy(policy: ChoicePolicy): void {
    this.policy = policy;
  }

  /** Ready plus delayed tasks not yet run. */
  get pending(): number {
    return this.readyCount + this.timers.length;
  }

  /**
   * Stops actors for good (a paused then destroyed domain's vCPU and threads): their queued and
   * delayed tasks are dropped and anything posted to them later never runs.
   */
  haltActors(pred: (actor: string) => boolean): number {
    let dropped = 0;
    for (const [actor, q] of this.queues) {
      if (!pred(actor)) continue;
      this.halted.add(actor);
      for (let i = q.head; i < q.items.length; i++) {
        const t = q.items[i]!;
        if (!t.cancelled) {
          t.cancelled = true;
          dropped++;
        }
      }
    }
    for (const t of this.timers) {
      if (!t.cancelled && pred(t.actor)) {
        t.cancelled = true;
        this.halted.add(t.actor);
        dropped++;
      }
    }
    this.haltPredicates.push(pred);
    this.trace.emit("hypervisor", "sched.halt", { dropped });
    return dropped;
  }

  private readonly halted = new Set<string>();
  private readonly haltPredicates: ((actor: string) => boolean)[] = [];

  private isHalted(actor: string): boolean {
    if (this.halted.has(actor)) return true;
    for (const p of this.haltPredicates) {
      if (p(actor)) {
        this.halted.add(actor);
        return true;
      }
    }
    return false;
  }

  /** Posts `fn` to run on `actor`, after `delayNs` of virtual time (default: as soon as chosen). */
  post(actor: string, label: string, fn: TaskFn, delayNs = 0): TaskHandle {
    const task = new Task(
      this.nextId++,
      this.nextSeq++,
      actor,
      label,
      fn,
      this.nowNs + Math.max(0, delayNs),
      this.haltPredicates.length > 0 && this.isHalted(actor),
    );
    if (task.cancelled) return task; // never queued: cancelling it again changes nothing
    if (delayNs > 0) heapPush(this.timers, task);
    else this.enqueueReady(task);
    return task;
  }

  /** A promise that resolves on `actor` after `delayNs` of virtual time. */
  sleep(actor: string, delayNs: number, label = "sleep"): Promise<void> {
    return new Promise((resolve) => {
      this.post(actor, label, resolve, delayNs);
    });
  }

  /**
   * Runs one step synchronously: picks a ready task (advancing virtual time to the next timer if
   * nothing is ready) and runs it. Returns false when there is nothing left to run. Promise
   * continuations are *not* settled here; `run` does that between steps.
   */
  step(): boolean {
    this.releaseTimers();
    if (this.readyCount === 0) {
      const next = this.peekLiveTimer();
      if (next === null) return false;
      this.nowNs = Math.max(this.nowNs, next.readyAt);
      this.releaseTimers();
      if (this.readyCount === 0) return false;
    }
    const task = this.pickTask();
    if (task === null) return false;
    this.stepCount++;
    this.nowNs += this.stepNs;
    this.currentActor = task.actor;
    this.currentLabel = task.label;
    try {
      const r = task.fn();
      if (r instanceof Promise) {
        const step = this.stepCount;
        (r as Promise<void>).then(undefined, (err: unknown) => {
          this.failure ??= new TaskFailedError(task.actor, task.label, step, err);
        });
      }
    } catch (err) {
      this.failure ??= new TaskFailedError(task.actor, task.label, this.stepCount, err);
    } finally {
      this.currentActor = null;
      this.currentLabel = null;
    }
    return true;
  }

  /** Runs steps until idle (or `until`/time limit), settling promise continuations between steps. */
  async run(options: RunOptions = {}): Promise<RunResult> {
    const maxSteps = options.maxSteps ?? 10_000_000;
    const start = this.stepCount;
    await settler.drain();
    for (;;) {
      this.throwIfFailed();
      if (options.until?.()) return this.result("until");
      if (options.maxTimeNs !== undefined && this.nextEventTime() > options.maxTimeNs) {
        return this.result("time");
      }
      if (this.stepCount - start >= maxSteps) throw new SchedulerLimitError(this.stepCount - start);
      if (!this.step()) {
        await settler.drain();
        this.throwIfFailed();
        if (this.pending === 0 || (this.peekLiveTimer() === null && this.readyCount === 0)) {
          return this.result("idle");
        }
        continue;
      }
      // Let the step's promise continuations run: a few microtask turns settle the chains
      // simulated code forms (resolve → await → await …); every FULL_DRAIN_EVERY steps, and
      // always before declaring idle, a macrotask boundary drains the queue completely. Either
      // way the interleaving is a pure function of the code and the seed.
      if (this.stepCount % FULL_DRAIN_EVERY === 0) {
        await settler.drain();
        continue;
      }
      // The microtask turns: until QUIET_TURNS pass without a new task being posted (or
      // MICROTASK_TURNS in all), ending as soon as a turn finds the microtask queue empty. They
      // are inlined here rather than awaited from a helper (one async call per step fewer); the
      // helper's return used to cost one more turn, which is kept when continuations may still
      // be queued, so that the interleaving is unchanged.
      let quiet = 0;
      let seen = this.nextSeq;
      let jobs = promiseJobs.count;
      let emptied = false;
      for (let i = 0; i < MICROTASK_TURNS && quiet < QUIET_TURNS; i++) {
        await RESOLVED;
        if (this.nextSeq === seen) quiet++;
        else {
          quiet = 0;
          seen = this.nextSeq;
        }
        // Our own resumption is one promise job. If it was the only one since the last turn,
        // the microtask queue held nothing but this loop: no continuation is left to post
        // anything, so every remaining turn would be quiet and stopping now ends exactly where
        // the quiet count would have — it only skips the empty turns (~3 of every 4 steps
        // settle nothing at all).
        if (promiseJobs.count - jobs === 1) {
          emptied = true;
          break;
        }
        jobs = promiseJobs.count;
      }
      if (!emptied) await RESOLVED;
    }
  }

  /** Like `run` but never awaits: for purely callback-driven code (benchmarks, low-level tests). */
  runSync(options: RunOptions = {}): RunResult {
    const maxSteps = options.maxSteps ?? 10_000_000;
    const start = this.stepCount;
    for (;;) {
      this.throwIfFailed();
      if (options.until?.()) return this.result("until");
      if (options.maxTimeNs !== undefined && this.nextEventTime() > options.maxTimeNs)
        return this.result("time");
      if (this.stepCount - start >= maxSteps) throw new SchedulerLimitError(this.stepCount - start);
      if (!this.step()) {
        this.throwIfFailed();
        return this.result("idle");
      }
    }
  }

  private result(outcome: RunOutcome): RunResult {
    return { outcome, steps: this.stepCount, timeNs: this.nowNs };
  }

  private throwIfFailed(): void {
    if (this.failure !== null) {
      const f = this.failure;
      this.failure = null;
      throw f;
    }
  }

  /** Virtual time at which the next task would run. */
  private nextEventTime(): number {
    if (this.readyCount > 0) return this.nowNs;
    const t = this.peekLiveTimer();
    return t === null ? Number.POSITIVE_INFINITY : t.readyAt;
  }

  private enqueueReady(task: Task): void {
    let q = this.queues.get(task.actor);
    if (q === undefined) {
      q = { actor: task.actor, items: [], head: 0, active: false };
      this.queues.set(task.actor, q);
    }
    q.items.push(task);
    this.readyCount++;
    if (!q.active) {
      q.active = true;
      this.active.push(q);
    }
  }

  private releaseTimers(): void {
    while (this.timers.length > 0) {
      const top = this.timers[0]!;
      if (top.readyAt > this.nowNs) break;
      heapPop(this.timers);
      if (!top.cancelled) this.enqueueReady(top);
    }
  }

  private peekLiveTimer(): Task | null {
    while (this.timers.length > 0) {
      const top = this.timers[0]!;
      if (!top.cancelled) return top;
      heapPop(this.timers);
    }
    return null;
  }

  private readonly candidates: Task[] = [];

  private pickTask(): Task | null {
    // Drop cancelled heads; gather every active actor's head task; retire empty queues.
    const cands = this.candidates;
    cands.length = 0;
    const active = this.active;
    for (let i = 0; i < active.length; ) {
      const q = active[i]!;
      while (q.head < q.items.length && q.items[q.head]!.cancelled) {
        q.head++;
        this.readyCount--;
      }
      if (q.head === q.items.length) {
        q.items.length = 0;
        q.head = 0;
        q.active = false;
        active[i] = active[active.length - 1]!;
        active.pop();
        continue;
      }
      cands.push(q.items[q.head]!);
      i++;
    }
    if (cands.length === 0) return null;
    let chosen: Task;
    if (cands.length === 1) {
      chosen = cands[0]!;
    } else {
      cands.sort(bySeq);
      const i = this.policy.choose(cands);
      chosen = cands[i] ?? cands[0]!;
    }
    const q = this.queues.get(chosen.actor)!;
    q.head++;
    if (q.head > 1024 && q.head * 2 > q.items.length) {
      q.items = q.items.slice(q.head);
      q.head = 0;
    }
    this.readyCount--;
    return chosen;
  }

  /** Describes what is waiting: useful in a liveness failure message. */
  describePending(): string[] {
    const out: string[] = [];
    for (const [actor, q] of this.queues) {
      for (let i = q.head; i < q.items.length; i++) {
        const t = q.items[i]!;
        if (!t.cancelled) out.push(`${actor}:${t.label}`);
      }
    }
    for (const t of this.timers) if (!t.cancelled) out.push(`${t.actor}:${t.label}@${t.readyAt}ns`);
    return out;
  }

  /** The label of the running task, for layers that trace "who did this". */
  get label(): string | null {
    return this.currentLabel;
  }
}

/** Most microtask turns given to a step's continuations before the next step (see `run`). */
const MICROTASK_TURNS = 64;
/** Turns in a row without a new task that end the wait early. */
const QUIET_TURNS = 16;
/** Steps between two complete (macrotask) drains of the microtask queue. */
const FULL_DRAIN_EVERY = 256;

/** Awaiting an already-settled native promise takes one microtask turn and allocates nothing. */
const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Counts promise jobs (continuations of `then` and `await`, thenable resolutions) as V8 runs them,
 * through a `before` promise hook installed when the first Scheduler is made and kept for the
 * life of the process: V8 does not report a job whose reaction was registered while no hook was
 * installed, so a hook switched on and off around `run` would miss continuations that simulated
 * code set up between two runs. `microtaskTurns` uses the count only to notice that a turn ran
 * nothing but itself; it never changes what runs or in which order, so counting extra jobs (other
 * code in the process) just means settling as long as before. Plain `queueMicrotask` callbacks
 * are not promise jobs and are not seen: simulated code does not use them (it awaits promises or
 * posts tasks).
 */
const promiseJobs = {
  count: 0,
  installed: false,
  install(): void {
    if (this.installed) return;
    this.installed = true;
    promiseHooks.onBefore(() => {
      promiseJobs.count++;
    });
  },
};

/**
 * Lets every pending promise continuation run. A message on a MessageChannel is a macrotask, and
 * Node drains the whole microtask queue before it runs one, however deep the chain of `then`s — so
 * after `drain()` resolves, all continuations of the previous step have run. This is the only
 * place the simulator touches the host event loop, and it does not affect ordering: nothing else
 * is queued on that loop by simulation code. One channel serves
 * every scheduler (opening and closing one per `run` was a visible cost for callers that run the
 * scheduler many times); its port holds the process open only while a drain is in flight.
 */
class Settler {
  private channel: MessageChannel | null = null;
  /** Resolvers of drains in flight, in post order (the channel delivers in order). */
  private readonly waiting: (() => void)[] = [];

  drain(): Promise<void> {
    const channel = this.open();
    return new Promise((resolve) => {
      if (this.waiting.length === 0) channel.port2.ref();
      this.waiting.push(resolve);
      channel.port1.postMessage(0);
    });
  }

  private open(): MessageChannel {
    if (this.channel !== null) return this.channel;
    const channel = new MessageChannel();
    channel.port2.on("message", () => {
      const r = this.waiting.shift();
      if (this.waiting.length === 0) channel.port2.unref();
      r?.();
    });
    channel.port2.unref();
    this.channel = channel;
    return channel;
  }
}

const settler = new Settler();

interface ActorQueue {
  readonly actor: string;
  items: Task[];
  head: number;
  active: boolean;
}

function bySeq(a: Task, b: Task): number {
  return a.seq - b.seq;
}

// A binary min-heap on (readyAt, seq): timers due at the same time run in post order.
function before(a: Task, b: Task): boolean {
  return a.readyAt < b.readyAt || (a.readyAt === b.readyAt && a.seq < b.seq);
}
function heapPush(h: Task[], t: Task): void {
  h.push(t);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!before(h[i]!, h[p]!)) break;
    [h[i], h[p]] = [h[p]!, h[i]!];
    i = p;
  }
}
function heapPop(h: Task[]): Task | undefined {
  const top = h[0];
  const last = h.pop();
  if (h.length > 0 && last !== undefined) {
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
  return top;
}
