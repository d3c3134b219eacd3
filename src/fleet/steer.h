/* Control library of the steering data plane (bpf/steer.bpf.c).
 *
 * The maps are pinned in bpffs under SL_STEER_PIN_ROOT/<name>/ (sl_cfg,
 * sl_maglev, sl_inst, sl_override, sl_stats, sl_ctr), so they outlive the
 * process that loaded the program: an XDP program attached with
 * sl_steer_attach() stays attached after the loader exits, and a restarted
 * controller opens the same maps with sl_steer_open() and finds steering as
 * it was. Every map update goes through this library (as in Katran).
 *
 * Addresses and ports in this API are in host byte order (as sl_config).
 * Results: 0 or a negative errno. */
#ifndef SL_FLEET_STEER_H
#define SL_FLEET_STEER_H

#include <stddef.h>
#include <stdint.h>

#include "fleet/bpf/steer_maps.h"

#define SL_STEER_PIN_ROOT "/sys/fs/bpf/sltcp"

struct sl_steer;

/* A flow as the client sends it: client address/port -> service address/port. */
struct sl_steer_tuple {
    uint32_t caddr, saddr;
    uint16_t cport, sport;
};

/* One instance of the fleet. `slot` (0..SL_STEER_MAX_INST-1) is its stable
 * index in the maps (overrides and counters name it); `name` seeds its
 * Maglev permutation, so the same name keeps the same buckets. */
struct sl_steer_instance {
    uint32_t slot;
    const char *name;
    uint32_t weight;    /* Maglev turns per round; 0 = no new buckets (drain) */
    uint32_t kind;      /* SL_STEER_INST_LOCAL or SL_STEER_INST_REMOTE */
    uint32_t ifindex;   /* LOCAL: the instance's interface on the front;
                           REMOTE: egress interface, 0 = back out the ingress one */
    uint32_t host_addr; /* REMOTE: the host's address (outer destination) */
    uint8_t dmac[6];    /* LOCAL: the instance's MAC; REMOTE: the next hop's */
    uint8_t smac[6];    /* the egress interface's MAC */
};

/* Load the programs, creating the pinned maps or reusing them if pinned
 * already (steering state survives a reload). Needs root and bpffs. */
int sl_steer_load(const char *name, struct sl_steer **out, char *err, size_t errlen);
/* Open the pinned maps of a loaded steering (no programs): the controller. */
int sl_steer_open(const char *name, struct sl_steer **out, char *err, size_t errlen);
/* Close the handle; pins and attached programs stay. */
void sl_steer_close(struct sl_steer *s);
/* Remove the pinned maps of `name` (the data plane keeps its references
 * while a program using them stays attached). */
int sl_steer_unpin(const char *name);

/* Program fd of a loaded steering: "xdp_steer", "xdp_decap" or "xdp_pass". */
int sl_steer_prog_fd(struct sl_steer *s, const char *prog);
/* Attach a program by name to an interface (XDP, driver or generic mode as
 * the kernel picks; xdp_flags e.g. XDP_FLAGS_SKB_MODE); it stays attached
 * after the process exits. sl_steer_detach removes whatever XDP program is
 * attached to ifindex. */
int sl_steer_attach(struct sl_steer *s, const char *prog, int ifindex, uint32_t xdp_flags);
int sl_steer_detach(int ifindex, uint32_t xdp_flags);

/* The service: address, port (0 = every port), IP-in-IP outer source. */
int sl_steer_set_service(struct sl_steer *s, uint32_t addr, uint16_t port, uint32_t tun_src);
/* Replace the instance list: instance slots first, then the Maglev table
 * recomputed over the instances with a weight, then the slots no longer
 * listed are cleared. -EINVAL on a bad slot, kind or duplicate slot. */
int sl_steer_set_instances(struct sl_steer *s, const struct sl_steer_instance *v, size_t n);
/* Per-flow override (a moved flow): it wins over the Maglev table. */
int sl_steer_override_set(struct sl_steer *s, const struct sl_steer_tuple *t, uint32_t slot);
int sl_steer_override_del(struct sl_steer *s, const struct sl_steer_tuple *t);
/* Where the data plane sends a flow now: *slot, and whether an override
 * decided it. -ENOENT if no instance takes it. */
int sl_steer_lookup(struct sl_steer *s, const struct sl_steer_tuple *t, uint32_t *slot,
                    int *overridden);
/* The Maglev bucket of a flow (the data plane's hash). */
uint32_t sl_steer_bucket(const struct sl_steer_tuple *t);
/* Counters summed over CPUs: per instance slot, and global (enum sl_steer_ctr). */
int sl_steer_stats(struct sl_steer *s, uint32_t slot, uint64_t *packets, uint64_t *bytes);
int sl_steer_counter(struct sl_steer *s, unsigned which, uint64_t *value);
/* Name of a global counter, for printing. */
const char *sl_steer_counter_name(unsigned which);

#endif
