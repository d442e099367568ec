/** A tiny, strict argument parser for the CLIs: `--flag`, `--key value`, `--key=value`, positionals. */
export interface ParsedArgs {
  readonly flags: ReadonlySet<string>;
  readonly values: ReadonlyMap<string, string[]>;
  readonly positionals: readonly string[];
}

export function parseArgs(argv: readonly string[], spec: { flags: string[]; values: string[] }): ParsedArgs {
  const flags = new Set<string>();
  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    if (spec.flags.includes(name) && eq < 0) {
      flags.add(name);
    } else if (spec.values.includes(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`--${name} needs a value`);
      values.set(name, [...(values.get(name) ?? []), v]);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { flags, values, positionals };
}

export class UsageError extends Error {}

export function intValue(args: ParsedArgs, name: string, fallback: number): number {
  const v = args.values.get(name)?.at(-1);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n))
    throw new UsageError(`--${name} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * Runs a CLI's `main` and exits with its status: a UsageError prints the message and the usage
 * (status 2); any other error prints and exits with `errorStatus` (the CLI's "could not run").
 */
export function runCli(
  main: (argv: readonly string[]) => Promise<number>,
  usage: string,
  options: { errorStatus?: number; stack?: boolean } = {},
): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof UsageError) {
        console.error(`${err.message}\n${usage}`);
        process.exit(2);
      }
      console.error(options.stack || !(err instanceof Error) ? err : err.message);
      process.exit(options.errorStatus ?? 1);
    },
  );
}
