// MAC addresses as XenStore spells them ("aa:bb:cc:dd:ee:ff") and Ethernet header helpers.

export const ETH_ALEN = 6;
/** Ethernet header length: the least a backend accepts in a packet's first slot. */
export const ETH_HLEN = 14;

const HEX = /^[0-9a-fA-F]$/;

/**
 * xen_net_read_mac's parse (drivers/net/xen-netfront.c): six `simple_strtoul(s, &e, 16)` fields,
 * each followed by ':' (the last by the end of the string). simple_strtoul accepts a "0x" prefix
 * and keeps the low 8 bits of a longer number; an empty field or a wrong separator fails
 * (the driver then reports -ENOENT). Returns undefined on failure.
 */
export function parseMac(text: string): Uint8Array | undefined {
  const mac = new Uint8Array(ETH_ALEN);
  let s = 0;
  for (let i = 0; i < ETH_ALEN; i++) {
    // _parse_integer_fixup_radix: base 16 skips a leading "0x" when a hex digit follows.
    if (text[s] === "0" && (text[s + 1] === "x" || text[s + 1] === "X") && HEX.test(text[s + 2] ?? "")) {
      s += 2;
    }
    let e = s;
    let v = 0;
    while (e < text.length && HEX.test(text[e]!)) {
      v = (v * 16 + Number.parseInt(text[e]!, 16)) % 0x1_0000_0000;
      e++;
    }
    if (e === s) return undefined;
    const want = i === ETH_ALEN - 1 ? undefined : ":";
    if (text[e] !== want) return undefined;
    mac[i] = v & 0xff;
    s = e + 1;
  }
  return mac;
}

/** "aa:bb:cc:dd:ee:ff" */
export function formatMac(mac: Uint8Array, offset = 0): string {
  let s = "";
  for (let i = 0; i < ETH_ALEN; i++) {
    if (i > 0) s += ":";
    s += mac[offset + i]!.toString(16).padStart(2, "0");
  }
  return s;
}

/** The broadcast address ff:ff:ff:ff:ff:ff. */
export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/**
 * An Ethernet frame: destination, source, EtherType, then `payload`. Convenience for tests and
 * scenarios; drivers never look inside frames.
 */
export function ethernetFrame(
  dst: Uint8Array,
  src: Uint8Array,
  etherType: number,
  payload: Uint8Array,
): Uint8Array {
  const f = new Uint8Array(ETH_HLEN + payload.length);
  f.set(dst.subarray(0, ETH_ALEN), 0);
  f.set(src.subarray(0, ETH_ALEN), ETH_ALEN);
  f[12] = (etherType >> 8) & 0xff;
  f[13] = etherType & 0xff;
  f.set(payload, ETH_HLEN);
  return f;
}

/**
 * A gratuitous ARP request announcing `ip` (4 bytes) for `mac`: what the guest's IPv4 stack sends
 * when netfront reports NETDEV_NOTIFY_PEERS on backend Connected.
 */
export function gratuitousArp(mac: Uint8Array, ip: Uint8Array): Uint8Array {
  const p = new Uint8Array(28);
  p.set([0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01], 0); // Ethernet/IPv4, request
  p.set(mac.subarray(0, 6), 8);
  p.set(ip.subarray(0, 4), 14);
  p.set(ip.subarray(0, 4), 24); // target IP = own IP; target MAC left zero
  return ethernetFrame(BROADCAST_MAC, mac, 0x0806, p);
}
