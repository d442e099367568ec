/*
 * Differential harness for the XenStore page (xs_wire.h struct xenstore_domain_interface,
 * MASK_XENSTORE_IDX). Reads sequences from stdin:
 *     xs <req-start> <rsp-start>
 *     gw n | gr n | sw n | sr n | gpend | spend
 *     poke <0 req_cons|1 req_prod|2 rsp_cons|3 rsp_prod> <v> | nudge <field> <signed delta>
 *     end
 * Writers copy chunk by chunk as Linux xb_write does (get_output_chunk, publish after each
 * chunk, at most two chunks per call); readers as xb_read (get_input_chunk); both validate with
 * check_indexes first. Bytes written are a deterministic per-side stream; reads print a FNV-1a
 * hash of what they got. One line per op with the four indices; "done" per sequence.
 */
#include <stdio.h>
#include <stdlib.h>
#include "xen-userspace.h"

static int check_indexes(XENSTORE_RING_IDX cons, XENSTORE_RING_IDX prod)
{
    return (prod - cons) <= XENSTORE_RING_SIZE;
}

/* Returns bytes written or -1 on bad indexes. */
static int produce(char *buf, volatile XENSTORE_RING_IDX *consp, volatile XENSTORE_RING_IDX *prodp,
                   const unsigned char *src, unsigned len)
{
    unsigned done = 0, chunk;
    for (chunk = 0; chunk < 2 && done < len; chunk++) {
        XENSTORE_RING_IDX cons = *consp, prod = *prodp;
        unsigned avail, n;
        if (!check_indexes(cons, prod))
            return -1;
        xen_mb();
        avail = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(prod);
        if (XENSTORE_RING_SIZE - (prod - cons) < avail)
            avail = XENSTORE_RING_SIZE - (prod - cons);
        if (avail == 0)
            break;
        n = avail < len - done ? avail : len - done;
        memcpy(buf + MASK_XENSTORE_IDX(prod), src + done, n);
        done += n;
        xen_wmb();
        *prodp = prod + n;
    }
    return (int)done;
}

static int consume(const char *buf, volatile XENSTORE_RING_IDX *consp, volatile XENSTORE_RING_IDX *prodp,
                   unsigned char *dst, unsigned len)
{
    unsigned done = 0, chunk;
    for (chunk = 0; chunk < 2 && done < len; chunk++) {
        XENSTORE_RING_IDX cons = *consp, prod = *prodp;
        unsigned avail, n;
        if (!check_indexes(cons, prod))
            return -1;
        xen_rmb();
        avail = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(cons);
        if (prod - cons < avail)
            avail = prod - cons;
        if (avail == 0)
            break;
        n = avail < len - done ? avail : len - done;
        memcpy(dst + done, buf + MASK_XENSTORE_IDX(cons), n);
        done += n;
        xen_mb();
        *consp = cons + n;
    }
    return (int)done;
}

static uint32_t fnv1a(const unsigned char *p, unsigned n)
{
    uint32_t h = 2166136261u;
    unsigned i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

int main(void)
{
    static unsigned char page[4096] __attribute__((aligned(4096)));
    struct xenstore_domain_interface *intf = (void *)page;
    unsigned char tmp[4096];
    char word[32];
    unsigned a, b;

    while (scanf("%31s %u %u", word, &a, &b) == 3 && !strcmp(word, "xs")) {
        uint32_t gstream = 0, sstream = 0;
        memset(page, 0, sizeof(page));
        intf->req_cons = intf->req_prod = a;
        intf->rsp_cons = intf->rsp_prod = b;
        while (scanf("%31s", word) == 1 && strcmp(word, "end")) {
            unsigned n, i;
            int r;
            if (!strcmp(word, "gw") || !strcmp(word, "sw")) {
                int guest = word[0] == 'g';
                uint32_t *stream = guest ? &gstream : &sstream;
                if (scanf("%u", &n) != 1 || n > sizeof(tmp)) return 2;
                for (i = 0; i < n; i++)
                    tmp[i] = (unsigned char)((*stream + i) * (guest ? 7u : 13u) + (guest ? 3u : 5u));
                r = guest ? produce(intf->req, &intf->req_cons, &intf->req_prod, tmp, n)
                          : produce(intf->rsp, &intf->rsp_cons, &intf->rsp_prod, tmp, n);
                if (r < 0) printf("%s err", word);
                else {
                    *stream += (uint32_t)r;
                    printf("%s %d", word, r);
                }
            } else if (!strcmp(word, "gr") || !strcmp(word, "sr")) {
                int guest = word[0] == 'g';
                if (scanf("%u", &n) != 1 || n > sizeof(tmp)) return 2;
                r = guest ? consume(intf->rsp, &intf->rsp_cons, &intf->rsp_prod, tmp, n)
                          : consume(intf->req, &intf->req_cons, &intf->req_prod, tmp, n);
                if (r < 0) printf("%s err", word);
                else printf("%s %d %u", word, r, fnv1a(tmp, (unsigned)r));
            } else if (!strcmp(word, "gpend") || !strcmp(word, "spend")) {
                XENSTORE_RING_IDX cons = word[0] == 'g' ? intf->rsp_cons : intf->req_cons;
                XENSTORE_RING_IDX prod = word[0] == 'g' ? intf->rsp_prod : intf->req_prod;
                if (!check_indexes(cons, prod)) printf("%s err", word);
                else printf("%s %u", word, prod - cons);
            } else if (!strcmp(word, "poke") || !strcmp(word, "nudge")) {
                unsigned field, value;
                int delta;
                XENSTORE_RING_IDX *idx[4] = { &intf->req_cons, &intf->req_prod, &intf->rsp_cons, &intf->rsp_prod };
                if (word[0] == 'n') {
                    if (scanf("%u %d", &field, &delta) != 2) return 2;
                    value = *idx[field & 3] + (XENSTORE_RING_IDX)delta;
                } else if (scanf("%u %u", &field, &value) != 2) {
                    return 2;
                }
                switch (field & 3) {
                case 0: intf->req_cons = value; break;
                case 1: intf->req_prod = value; break;
                case 2: intf->rsp_cons = value; break;
                default: intf->rsp_prod = value; break;
                }
                printf("%s", word);
            } else {
                fprintf(stderr, "unknown op %s\n", word);
                return 2;
            }
            printf(" | %u %u %u %u\n", intf->req_cons, intf->req_prod, intf->rsp_cons, intf->rsp_prod);
        }
        printf("done\n");
        fflush(stdout);
    }
    return 0;
}
