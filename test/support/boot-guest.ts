// A minimal toolstack for transport tests: create the domain's home and INTRODUCE it, then boot
// its kernel from start_info. (The real toolstack, with libxl's full layout, lives in frontend-sim.)
import { GuestKernel } from "@xensim/frontend-sim/guest";
import type { Platform } from "@xensim/frontend-sim/host";

export async function introduceGuest(platform: Platform, domid: number) {
  const start = platform.buildDomain(domid);
  const tools = platform.dom0Client(`toolstack-${domid}`);
  const home = `/local/domain/${domid}`;
  await platform.settle(
    (async () => {
      await tools.write(0, home, "");
      await tools.setPerms(0, home, ["n0", `r${domid}`]);
      await tools.mkdir(0, `${home}/data`);
      await tools.setPerms(0, `${home}/data`, [`n${domid}`]);
      await tools.introduceDomain(domid, start.storeGfn, start.storePort);
    })(),
  );
  return start;
}

export async function bootGuest(platform: Platform, domid: number): Promise<GuestKernel> {
  const start = await introduceGuest(platform, domid);
  return new GuestKernel(platform.guestResources(domid), start);
}
