/*
 * One ring type's differential harness, included once per ring type by ring-diff-harness.c with
 * RT (the DEFINE_RING_TYPES name) and MAKE_ID defined. Every step uses the real ring.h macros;
 * the validation around them (which check fails first) is the hardened-consumer pattern the
 * TypeScript rings implement, written out here in C.
 */
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define SRING_T struct CAT(RT, _sring)
#define FRONT_T struct CAT(RT, _front_ring)
#define BACK_T struct CAT(RT, _back_ring)

static void CAT(run_, RT)(unsigned order, RING_IDX start)
{
    size_t bytes = (size_t)4096 << order;
    SRING_T *s = aligned_alloc(4096, bytes);
    FRONT_T f;
    BACK_T b;
    RING_IDX f_last = start, b_last = start;
    uint64_t next_id = 1;
    uint64_t fifo[8192];
    unsigned fifo_head = 0, fifo_tail = 0;
    char op[32];

    memset(s, 0, bytes);
    SHARED_RING_INIT(s);
    if (start != 0) {
        s->req_prod = s->rsp_prod = start;
        s->req_event = s->rsp_event = start + 1;
    }
    FRONT_RING_ATTACH(&f, s, start, bytes);
    BACK_RING_ATTACH(&b, s, start, bytes);

    while (scanf("%31s", op) == 1) {
        RING_IDX size = RING_SIZE(&f);
        if (!strcmp(op, "end"))
            break;
        if (!strcmp(op, "fp")) {
            unsigned k, n = 0;
            if (scanf("%u", &k) != 1) exit(2);
            while (n < k && !RING_FULL(&f)) {
                RING_GET_REQUEST(&f, f.req_prod_pvt)->id = MAKE_ID(next_id);
                next_id++;
                f.req_prod_pvt++;
                n++;
            }
            printf("fp %u", n);
        } else if (!strcmp(op, "fpush")) {
            int notify;
            RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&f, notify);
            printf("fpush %d", notify ? 1 : 0);
        } else if (!strcmp(op, "fpushq")) {
            RING_PUSH_REQUESTS(&f);
            printf("fpushq");
        } else if (!strcmp(op, "ffree")) {
            printf("ffree %u %d", (unsigned)RING_FREE_REQUESTS(&f), RING_FULL(&f) ? 1 : 0);
        } else if (!strcmp(op, "fcount") || !strcmp(op, "ffinal") || !strcmp(op, "fc")) {
            unsigned k = 0;
            RING_IDX prod = s->rsp_prod, cons = f.rsp_cons;
            const char *err = NULL;
            if (!strcmp(op, "fc") && scanf("%u", &k) != 1) exit(2);
            if (RING_RESPONSE_PROD_OVERFLOW(&f, prod))
                err = "response-prod-overflow";
            else if ((RING_IDX)(prod - f_last) > size)
                err = "response-prod-regressed";
            else if ((RING_IDX)(prod - cons) > (RING_IDX)(f.req_prod_pvt - cons))
                err = "responses-exceed-requests";
            if (err) {
                printf("%s err %s", op, err);
            } else {
                f_last = prod;
                if (!strcmp(op, "fcount")) {
                    printf("fcount ok %u", (unsigned)XEN_RING_NR_UNCONSUMED_RESPONSES(&f));
                } else if (!strcmp(op, "ffinal")) {
                    int work;
                    RING_FINAL_CHECK_FOR_RESPONSES(&f, work);
                    printf("ffinal ok %u", (unsigned)work);
                } else {
                    unsigned n = XEN_RING_NR_UNCONSUMED_RESPONSES(&f), i;
                    printf("fc ok");
                    for (i = 0; i < k && i < n; i++) {
                        __typeof__(*RING_GET_RESPONSE(&f, 0)) rsp;
                        RING_COPY_RESPONSE(&f, f.rsp_cons, &rsp);
                        f.rsp_cons++;
                        printf(" %llu", (unsigned long long)rsp.id);
                    }
                }
            }
        } else if (!strcmp(op, "bcount") || !strcmp(op, "bfinal") || !strcmp(op, "bc")) {
            unsigned k = 0;
            RING_IDX prod = s->req_prod;
            const char *err = NULL;
            if (!strcmp(op, "bc") && scanf("%u", &k) != 1) exit(2);
            if (RING_REQUEST_PROD_OVERFLOW(&b, prod))
                err = "request-prod-overflow";
            else if ((RING_IDX)(prod - b_last) > size)
                err = "request-prod-regressed";
            if (err) {
                printf("%s err %s", op, err);
            } else {
                b_last = prod;
                if (!strcmp(op, "bcount")) {
                    printf("bcount ok %u", (unsigned)XEN_RING_NR_UNCONSUMED_REQUESTS(&b));
                } else if (!strcmp(op, "bfinal")) {
                    int work;
                    RING_FINAL_CHECK_FOR_REQUESTS(&b, work);
                    printf("bfinal ok %u", (unsigned)work);
                } else {
                    unsigned n = XEN_RING_NR_UNCONSUMED_REQUESTS(&b), i;
                    printf("bc ok");
                    for (i = 0; i < k && i < n && !RING_REQUEST_CONS_OVERFLOW(&b, b.req_cons); i++) {
                        __typeof__(*RING_GET_REQUEST(&b, 0)) req;
                        RING_COPY_REQUEST(&b, b.req_cons, &req);
                        b.req_cons++;
                        fifo[fifo_tail++ % 8192] = req.id;
                        printf(" %llu", (unsigned long long)req.id);
                    }
                }
            }
        } else if (!strcmp(op, "br")) {
            unsigned k, n = 0;
            if (scanf("%u", &k) != 1) exit(2);
            while (n < k && b.rsp_prod_pvt != b.req_cons) {
                __typeof__(RING_GET_RESPONSE(&b, 0)) rsp = RING_GET_RESPONSE(&b, b.rsp_prod_pvt);
                rsp->id = fifo[fifo_head++ % 8192];
                rsp->status = 0;
                b.rsp_prod_pvt++;
                n++;
            }
            printf("br %u", n);
        } else if (!strcmp(op, "bpush")) {
            int notify;
            RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&b, notify);
            printf("bpush %d", notify ? 1 : 0);
        } else if (!strcmp(op, "bpushq")) {
            RING_PUSH_RESPONSES(&b);
            printf("bpushq");
        } else if (!strcmp(op, "poke")) {
            unsigned field, value;
            if (scanf("%u %u", &field, &value) != 2) exit(2);
            ((RING_IDX *)s)[field & 3] = value;
            printf("poke");
        } else if (!strcmp(op, "nudge")) {
            unsigned field;
            int delta;
            if (scanf("%u %d", &field, &delta) != 2) exit(2);
            ((RING_IDX *)s)[field & 3] += (RING_IDX)delta;
            printf("nudge");
        } else if (!strcmp(op, "scribble")) {
            unsigned at, value;
            if (scanf("%u %u", &at, &value) != 2) exit(2);
            ((unsigned char *)s)[at % bytes] = (unsigned char)value;
            printf("scribble");
        } else {
            fprintf(stderr, "unknown op %s\n", op);
            exit(2);
        }
        printf(" | %u %u %u %u %u %u %u %u\n", s->req_prod, s->req_event, s->rsp_prod, s->rsp_event,
               f.req_prod_pvt, f.rsp_cons, b.rsp_prod_pvt, b.req_cons);
    }
    free(s);
}

#undef SRING_T
#undef FRONT_T
#undef BACK_T
