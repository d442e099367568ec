import { Prng } from "./prng.ts";

/** What a choice policy sees of a ready task: the head of one actor's queue. */
export interface ReadyTask {
  readonly id: number;
  /** Global post order: lower = posted earlier. */
  readonly seq: number;
  readonly actor: string;
  readonly label: string;
}

/**
 * Decides which ready actor runs next. `candidates` holds the head task of every actor with ready
 * work, ordered oldest first (by `seq`), so index 0 is always the FIFO choice — and fast-check
 * shrinks choices towards 0, i.e. towards FIFO.
 */
export interface ChoicePolicy {
  readonly name: string;
  choose(candidates: readonly ReadyTask[]): number;
}

/** Oldest ready task first: one canonical interleaving. */
export class FifoPolicy implements ChoicePolicy {
  readonly name = "fifo";
  choose(): number {
    return 0;
  }
}

/** A uniformly random ready actor per step, from a seeded PRNG. */
export class SeededPolicy implements ChoicePolicy {
  readonly name: string;
  private readonly prng: Prng;
  constructor(readonly seed: number) {
    this.name = `seeded:${seed}`;
    this.prng = new Prng(seed);
  }
  choose(candidates: readonly ReadyTask[]): number {
    return this.prng.int(candidates.length);
  }
}

/**
 * Replays a list of choices: step i picks `choices[i] mod candidates`, and once the list is used up
 * every choice is FIFO. This is the form fast-check generates and shrinks (see fast-check-policy.ts),
 * and the form a replay token carries. Only steps with two or more candidates consume a choice, so a
 * schedule stays short and each entry is a real decision.
 */
export class ScriptedPolicy implements ChoicePolicy {
  readonly name = "scripted";
  private next = 0;
  /** The choices actually taken at each decision point (for reporting a schedule). */
  readonly taken: number[] = [];
  constructor(readonly choices: readonly number[]) {}
  choose(candidates: readonly ReadyTask[]): number {
    const raw = this.next < this.choices.length ? (this.choices[this.next] ?? 0) : 0;
    this.next++;
    const pick = raw % candidates.length;
    this.taken.push(pick);
    return pick;
  }
  /** How many decision points the run had. */
  get decisions(): number {
    return this.next;
  }
}

/** Prioritises some actors (e.g. starve the backend) on top of another policy: a tool for pinning races. */
export class RecordingPolicy implements ChoicePolicy {
  readonly name: string;
  readonly decisions: { candidates: string[]; chosen: number }[] = [];
  constructor(private readonly inner: ChoicePolicy) {
    this.name = `recording:${inner.name}`;
  }
  choose(candidates: readonly ReadyTask[]): number {
    const chosen = this.inner.choose(candidates);
    this.decisions.push({ candidates: candidates.map((c) => `${c.actor}:${c.label}`), chosen });
    return chosen;
  }
}
