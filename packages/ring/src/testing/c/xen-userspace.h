/*
 * Barriers ring.h expects from its includer. In user space on x86 (TSO) Linux's virt_wmb/virt_rmb
 * are compiler barriers and virt_mb is a full fence; use the same here so the C side pays what a
 * real x86 guest pays.
 */
#ifndef XENSIM_XEN_USERSPACE_H
#define XENSIM_XEN_USERSPACE_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* The current interface: ring.h then uses xen_mb()/xen_rmb()/xen_wmb() defined below. */
#define __XEN_INTERFACE_VERSION__ __XEN_LATEST_INTERFACE_VERSION__
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __asm__ __volatile__("" ::: "memory")
#define xen_wmb() __asm__ __volatile__("" ::: "memory")
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/ring.h>
#include <xen/io/netif.h>
#include <xen/io/blkif.h>
#include <xen/io/xs_wire.h>

/*
 * libxen-dev's blkif.h only has the native (here x86_64) layout, and gcc -m32 is not available,
 * so the x86_32 ABI structs are reproduced exactly as Linux drivers/block/xen-blkback/common.h
 * and QEMU hw/block/xen_blkif.h declare them: i386 aligns uint64_t to 4, hence pack(push, 4).
 */
#pragma pack(push, 4)
struct blkif_x86_32_request {
    uint8_t        operation;
    uint8_t        nr_segments;
    blkif_vdev_t   handle;
    uint64_t       id;
    blkif_sector_t sector_number;
    struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};
struct blkif_x86_32_response {
    uint64_t        id;
    uint8_t         operation;
    int16_t         status;
};
#pragma pack(pop)
DEFINE_RING_TYPES(blkif_x86_32, struct blkif_x86_32_request, struct blkif_x86_32_response);

#endif
