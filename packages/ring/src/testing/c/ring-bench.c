/*
 * C baseline for `pnpm bench ring`: the same fill-then-drain round trips the TypeScript bench
 * runs, through one page, with the real ring.h macros and x86 barriers (xen-userspace.h).
 * Front and back run in separate noinline functions so the compiler cannot fuse them.
 * Usage: ring-bench <milliseconds per workload>; prints "<ring> <round trips per second>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "xen-userspace.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static volatile uint64_t sink;

/* ---- blkif (x86_64, 32 slots) ---- */
__attribute__((noinline)) static void blk_front_fill(blkif_front_ring_t *f)
{
    int notify;
    unsigned i = 0;
    while (!RING_FULL(f)) {
        blkif_request_t *r = RING_GET_REQUEST(f, f->req_prod_pvt);
        r->operation = BLKIF_OP_READ;
        r->nr_segments = 1;
        r->handle = 0;
        r->id = f->req_prod_pvt;
        r->sector_number = (uint64_t)i * 8;
        r->seg[0].gref = 100 + i;
        r->seg[0].first_sect = 0;
        r->seg[0].last_sect = 7;
        f->req_prod_pvt++;
        i++;
    }
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(f, notify);
    sink += notify;
}

__attribute__((noinline)) static void blk_back_drain(blkif_back_ring_t *b)
{
    int notify, more;
    RING_IDX rc = b->req_cons, rp = b->sring->req_prod;
    xen_rmb();
    if (RING_REQUEST_PROD_OVERFLOW(b, rp))
        abort();
    while (rc != rp && !RING_REQUEST_CONS_OVERFLOW(b, rc)) {
        blkif_request_t req;
        blkif_response_t *rsp;
        RING_COPY_REQUEST(b, rc, &req);
        rc++;
        rsp = RING_GET_RESPONSE(b, b->rsp_prod_pvt);
        rsp->id = req.id;
        rsp->operation = req.operation;
        rsp->status = BLKIF_RSP_OKAY;
        b->rsp_prod_pvt++;
    }
    b->req_cons = rc;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(b, notify);
    RING_FINAL_CHECK_FOR_REQUESTS(b, more);
    sink += notify + more;
}

__attribute__((noinline)) static unsigned blk_front_collect(blkif_front_ring_t *f)
{
    int more;
    RING_IDX i, rp = f->sring->rsp_prod;
    uint64_t sum = 0;
    unsigned n = 0;
    xen_rmb();
    if (RING_RESPONSE_PROD_OVERFLOW(f, rp))
        abort();
    for (i = f->rsp_cons; i != rp; i++) {
        blkif_response_t rsp;
        RING_COPY_RESPONSE(f, i, &rsp);
        sum += rsp.id + (uint64_t)(int64_t)rsp.status;
        n++;
    }
    f->rsp_cons = i;
    RING_FINAL_CHECK_FOR_RESPONSES(f, more);
    sink += sum + more;
    return n;
}

/* ---- netif tx (256 slots) ---- */
__attribute__((noinline)) static void tx_front_fill(netif_tx_front_ring_t *f)
{
    int notify;
    unsigned i = 0;
    while (!RING_FULL(f)) {
        netif_tx_request_t *r = RING_GET_REQUEST(f, f->req_prod_pvt);
        r->gref = 100 + i;
        r->offset = 0;
        r->flags = 0;
        r->id = (uint16_t)f->req_prod_pvt;
        r->size = 1514;
        f->req_prod_pvt++;
        i++;
    }
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(f, notify);
    sink += notify;
}

__attribute__((noinline)) static void tx_back_drain(netif_tx_back_ring_t *b)
{
    int notify, more;
    RING_IDX rc = b->req_cons, rp = b->sring->req_prod;
    xen_rmb();
    if (RING_REQUEST_PROD_OVERFLOW(b, rp))
        abort();
    while (rc != rp && !RING_REQUEST_CONS_OVERFLOW(b, rc)) {
        netif_tx_request_t req;
        netif_tx_response_t *rsp;
        RING_COPY_REQUEST(b, rc, &req);
        rc++;
        rsp = RING_GET_RESPONSE(b, b->rsp_prod_pvt);
        rsp->id = req.id;
        rsp->status = NETIF_RSP_OKAY;
        b->rsp_prod_pvt++;
    }
    b->req_cons = rc;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(b, notify);
    RING_FINAL_CHECK_FOR_REQUESTS(b, more);
    sink += notify + more;
}

__attribute__((noinline)) static unsigned tx_front_collect(netif_tx_front_ring_t *f)
{
    int more;
    RING_IDX i, rp = f->sring->rsp_prod;
    uint64_t sum = 0;
    unsigned n = 0;
    xen_rmb();
    if (RING_RESPONSE_PROD_OVERFLOW(f, rp))
        abort();
    for (i = f->rsp_cons; i != rp; i++) {
        netif_tx_response_t rsp;
        RING_COPY_RESPONSE(f, i, &rsp);
        sum += rsp.id + rsp.status;
        n++;
    }
    f->rsp_cons = i;
    RING_FINAL_CHECK_FOR_RESPONSES(f, more);
    sink += sum + more;
    return n;
}

#define BENCH(name, PREFIX, SRING_T, FRONT_T, BACK_T)                                    \
    do {                                                                                 \
        SRING_T *s = aligned_alloc(4096, 4096);                                          \
        FRONT_T f;                                                                       \
        BACK_T b;                                                                        \
        double t0, dt;                                                                   \
        uint64_t trips = 0;                                                              \
        memset(s, 0, 4096);                                                              \
        SHARED_RING_INIT(s);                                                             \
        FRONT_RING_INIT(&f, s, 4096);                                                    \
        BACK_RING_INIT(&b, s, 4096);                                                     \
        t0 = now();                                                                      \
        do {                                                                             \
            for (int k = 0; k < 256; k++) {                                              \
                PREFIX##_front_fill(&f);                                                 \
                PREFIX##_back_drain(&b);                                                 \
                trips += PREFIX##_front_collect(&f);                                     \
            }                                                                            \
            dt = now() - t0;                                                             \
        } while (dt < ms / 1000.0);                                                      \
        printf("%s %.0f\n", name, trips / dt);                                           \
        free(s);                                                                         \
    } while (0)

int main(int argc, char **argv)
{
    double ms = argc > 1 ? atof(argv[1]) : 300;
    BENCH("blkif", blk, blkif_sring_t, blkif_front_ring_t, blkif_back_ring_t);
    BENCH("netif_tx", tx, netif_tx_sring_t, netif_tx_front_ring_t, netif_tx_back_ring_t);
    return 0;
}
