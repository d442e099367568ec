// Introduced domains (cx xenstored_domain.c struct domain): introduction state, SET_TARGET,
// the @releaseDomain "shutdown already reported" flag.

export interface DomainInfo {
  readonly domid: number;
  gfn: string;
  port: number;
  /** SET_TARGET: this domain acts for `target` */
  target: number | undefined;
}

/** Hypervisor-facing effects the server asks for; the ring transport implements them. */
export interface DomainHost {
  /** Does the domain exist (SET_PERMS owner check, INTRODUCE)? Default: domid < 32752. */
  domainExists(domid: number): boolean;
  /** INTRODUCE: map the page and bind the event channel; "ok" or an errno name. */
  introduce(domid: number, gfn: string, port: number): "ok" | import("../wire/errors.ts").XsErrno;
  /** RELEASE (or domain destruction): unmap, unbind. */
  release(domid: number): void;
}

export const DEFAULT_HOST: DomainHost = {
  domainExists: (domid) => domid >= 0 && domid < 0x7ff0,
  introduce: () => "ok",
  release: () => {},
};

export class DomainTable {
  private readonly map = new Map<number, DomainInfo>();

  get(domid: number): DomainInfo | undefined {
    return this.map.get(domid);
  }

  isIntroduced(domid: number): boolean {
    return this.map.has(domid);
  }

  add(info: DomainInfo): void {
    this.map.set(info.domid, info);
  }

  remove(domid: number): void {
    this.map.delete(domid);
    for (const d of this.map.values()) if (d.target === domid) d.target = undefined;
  }

  all(): DomainInfo[] {
    return [...this.map.values()].sort((a, b) => a.domid - b.domid);
  }
}
