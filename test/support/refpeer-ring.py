#!/usr/bin/env python3
"""Guest rings for the reference daemon in ring mode, driven by a test over stdin/stdout.

Node has no Unix datagram sockets, so this small helper plays the guests: it reuses
refpeer's xsconf.RingConn (import with PYTHONPATH=<refpeer dir>), which maps
DIR/dom<d>.page, writes requests into req[] and publishes req_prod, reads rsp[] up to
rsp_prod and publishes rsp_cons, notifies DIR/evtchn.in with the local port from
DIR/dom<d>.port and sleeps on the datagram socket DIR/dom<d>.kick (bound at "open",
i.e. before dom0 INTRODUCEs the domain).

One JSON object per line in, one per line out (same "id"):
  {"id":1,"cmd":"open","ring":DIR,"dom":D}               -> {"id":1,"ok":true}
  {"id":2,"cmd":"xfer","dom":D,"data":HEX,"want":[REQ..],"timeout":S}
      sends the bytes (if any), then reads frames until a non-event frame with each
      wanted req_id has arrived -> {"id":2,"ok":true,"status":"ok"|"timeout"|"closed",
      "frames":[[type,req,tx,HEX],...]} (every frame read, in arrival order)
  {"id":3,"cmd":"close","dom":D}                         -> {"id":3,"ok":true}
Errors: {"id":N,"ok":false,"error":"..."}.  EOF on stdin: close everything and exit.
"""

import json
import sys

from xsconf import WATCH_EVENT, RingConn  # noqa: E402  (PYTHONPATH=refpeer dir)

conns = {}


def frames_until(c, want, timeout):
    """reads frames until a reply (non-event frame) to each wanted req_id has arrived"""
    if not want:
        return [], "ok"

    def done(ms):
        got = {m[1] for m in ms if m[0] != WATCH_EVENT}
        return all(r in got for r in want)

    return c.read(done, timeout)


def handle(req):
    cmd = req.get("cmd")
    if cmd == "open":
        d = int(req["dom"])
        old = conns.pop(d, None)
        if old is not None:
            old.close()
        conns[d] = RingConn(req["ring"], d, float(req.get("timeout", 3.0)))
        return {}
    if cmd == "xfer":
        c = conns[int(req["dom"])]
        data = bytes.fromhex(req.get("data", ""))
        if data and not c.send(data):
            return {"status": "closed", "frames": [], "why": c.why}
        msgs, status = frames_until(c, req.get("want", []), float(req.get("timeout", 3.0)))
        return {"status": status, "why": c.why,
                "frames": [[t, rq, tx, p.hex()] for (t, rq, tx, p) in msgs]}
    if cmd == "close":
        c = conns.pop(int(req["dom"]), None)
        if c is not None:
            c.close()
        return {}
    raise ValueError("unknown cmd %r" % cmd)


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        try:
            out = handle(req)
            out["ok"] = True
        except Exception as e:  # reported to the test, which fails with it
            out = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        out["id"] = req.get("id")
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    for c in conns.values():
        c.close()


if __name__ == "__main__":
    main()
