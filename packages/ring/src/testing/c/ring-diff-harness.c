/*
 * Differential harness for io/ring.h rings. Reads sequences from stdin, each
 *     ring <netif_tx|netif_rx|blkif|blkif_x86_32> <order> <start-index>
 *     <op> ... (see ring-diff-body.h)
 *     end
 * and answers each op with one line of results and all eight indices, then "done" per sequence
 * (flushed, so one process serves a whole test file).
 */
#include <stdio.h>
#include <stdlib.h>
#include "xen-userspace.h"

#define RT netif_tx
#define MAKE_ID(c) ((uint16_t)(c))
#include "ring-diff-body.h"
#undef RT
#undef MAKE_ID

#define RT netif_rx
#define MAKE_ID(c) ((uint16_t)(c))
#include "ring-diff-body.h"
#undef RT
#undef MAKE_ID

#define RT blkif
#define MAKE_ID(c) (((uint64_t)(c) << 33) | (uint64_t)(c))
#include "ring-diff-body.h"
#undef RT
#undef MAKE_ID

#define RT blkif_x86_32
#define MAKE_ID(c) (((uint64_t)(c) << 33) | (uint64_t)(c))
#include "ring-diff-body.h"
#undef RT
#undef MAKE_ID

int main(void)
{
    char word[32], proto[32];
    unsigned order, start;
    while (scanf("%31s", word) == 1) {
        if (strcmp(word, "ring") || scanf("%31s %u %u", proto, &order, &start) != 3) {
            fprintf(stderr, "expected: ring <proto> <order> <start>\n");
            return 2;
        }
        if (!strcmp(proto, "netif_tx")) run_netif_tx(order, start);
        else if (!strcmp(proto, "netif_rx")) run_netif_rx(order, start);
        else if (!strcmp(proto, "blkif")) run_blkif(order, start);
        else if (!strcmp(proto, "blkif_x86_32")) run_blkif_x86_32(order, start);
        else { fprintf(stderr, "unknown ring %s\n", proto); return 2; }
        printf("done\n");
        fflush(stdout);
    }
    return 0;
}
