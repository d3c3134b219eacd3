/* Control library of the steering data plane: the only writer of its maps. */
#include "fleet/steer.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet/maglev.h"
#include "steer.skel.h"

enum { F_CFG, F_MAGLEV, F_INST, F_OVERRIDE, F_STATS, F_CTR, F_N };
static const char *const map_names[F_N] = {"sl_cfg",      "sl_maglev", "sl_inst",
                                           "sl_override", "sl_stats",  "sl_ctr"};

struct sl_steer {
    struct steer *skel; /* NULL when opened from the pins only */
    int fd[F_N];
    int ncpu;
};

static const char *const ctr_names[SL_STEER_C_MAX] = {
    [SL_STEER_C_RX] = "rx",
    [SL_STEER_C_PASS_NOT_IP] = "pass_not_ip",
    [SL_STEER_C_PASS_NOT_SVC] = "pass_not_service",
    [SL_STEER_C_PASS_FRAG] = "pass_fragment",
    [SL_STEER_C_DROP_TRUNC] = "drop_truncated",
    [SL_STEER_C_DROP_NO_INST] = "drop_no_instance",
    [SL_STEER_C_DROP_ENCAP] = "drop_encap",
    [SL_STEER_C_OVERRIDE] = "steer_override",
    [SL_STEER_C_MAGLEV] = "steer_maglev",
    [SL_STEER_C_REDIRECT] = "deliver_redirect",
    [SL_STEER_C_ENCAP] = "deliver_encap",
    [SL_STEER_C_DECAP] = "decap",
};

const char *sl_steer_counter_name(unsigned which)
{
    return which < SL_STEER_C_MAX ? ctr_names[which] : "?";
}

static int pin_dir(const char *name, char *dir, size_t len)
{
    if (name == NULL || *name == '\0' || strchr(name, '/') || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return -EINVAL;
    if ((size_t)snprintf(dir, len, "%s/%s", SL_STEER_PIN_ROOT, name) >= len)
        return -ENAMETOOLONG;
    return 0;
}

static struct sl_steer *alloc_handle(void)
{
    struct sl_steer *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    for (int i = 0; i < F_N; i++)
        s->fd[i] = -1;
    s->ncpu = libbpf_num_possible_cpus();
    return s;
}

int sl_steer_load(const char *name, struct sl_steer **out, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    int r = pin_dir(name, dir, sizeof(dir));
    if (r < 0) {
        snprintf(err, errlen, "bad steering name '%s'", name ? name : "");
        return r;
    }
    if ((mkdir(SL_STEER_PIN_ROOT, 0700) < 0 && errno != EEXIST) ||
        (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
        r = -errno;
        snprintf(err, errlen, "cannot create %s: %s (is bpffs mounted on /sys/fs/bpf?)", dir,
                 strerror(errno));
        return r;
    }
    struct sl_steer *s = alloc_handle();
    if (!s || s->ncpu <= 0) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = dir);
    s->skel = steer__open_opts(&oo);
    if (!s->skel) {
        r = -errno;
        snprintf(err, errlen, "cannot open the steering object: %s", strerror(-r));
        free(s);
        return r;
    }
    r = steer__load(s->skel);
    if (r < 0) {
        snprintf(err, errlen, "cannot load the steering programs: %s", strerror(-r));
        sl_steer_close(s);
        return r;
    }
    struct bpf_map *maps[F_N] = {s->skel->maps.sl_cfg,      s->skel->maps.sl_maglev,
                                 s->skel->maps.sl_inst,     s->skel->maps.sl_override,
                                 s->skel->maps.sl_stats,    s->skel->maps.sl_ctr};
    for (int i = 0; i < F_N; i++)
        s->fd[i] = bpf_map__fd(maps[i]);
    *out = s;
    return 0;
}

int sl_steer_open(const char *name, struct sl_steer **out, char *err, size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    int r = pin_dir(name, dir, sizeof(dir));
    if (r < 0) {
        snprintf(err, errlen, "bad steering name '%s'", name ? name : "");
        return r;
    }
    struct sl_steer *s = alloc_handle();
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < F_N; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, map_names[i]);
        s->fd[i] = bpf_obj_get(path);
        if (s->fd[i] < 0) {
            r = -errno;
            snprintf(err, errlen, "cannot open pinned map %s: %s", path, strerror(errno));
            sl_steer_close(s);
            return r;
        }
    }
    *out = s;
    return 0;
}

void sl_steer_close(struct sl_steer *s)
{
    if (!s)
        return;
    if (s->skel)
        steer__destroy(s->skel); /* closes the map fds it owns */
    else
        for (int i = 0; i < F_N; i++)
            if (s->fd[i] >= 0)
                close(s->fd[i]);
    free(s);
}

int sl_steer_unpin(const char *name)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    int r = pin_dir(name, dir, sizeof(dir));
    if (r < 0)
        return r;
    for (int i = 0; i < F_N; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, map_names[i]);
        if (unlink(path) < 0 && errno != ENOENT)
            r = -errno;
    }
    if (rmdir(dir) < 0 && errno != ENOENT)
        r = r ? r : -errno;
    return r;
}

int sl_steer_prog_fd(struct sl_steer *s, const char *prog)
{
    if (!s->skel)
        return -ENOENT;
    struct bpf_program *p = bpf_object__find_program_by_name(s->skel->obj, prog);
    return p ? bpf_program__fd(p) : -ENOENT;
}

int sl_steer_attach(struct sl_steer *s, const char *prog, int ifindex, uint32_t xdp_flags)
{
    int fd = sl_steer_prog_fd(s, prog);
    if (fd < 0)
        return fd;
    return bpf_xdp_attach(ifindex, fd, xdp_flags, NULL);
}

int sl_steer_detach(int ifindex, uint32_t xdp_flags)
{
    return bpf_xdp_detach(ifindex, xdp_flags, NULL);
}

static int update(struct sl_steer *s, int f, const void *k, const void *v)
{
    return bpf_map_update_elem(s->fd[f], k, v, BPF_ANY) < 0 ? -errno : 0;
}

int sl_steer_set_service(struct sl_steer *s, uint32_t addr, uint16_t port, uint32_t tun_src)
{
    struct sl_steer_cfg c = {.svc_addr = htonl(addr), .svc_port = htons(port),
                             .tun_src = htonl(tun_src), .m = SL_STEER_M};
    uint32_t zero = 0;
    return update(s, F_CFG, &zero, &c);
}

/* The whole table in one batch call where the kernel has it (5.6+), else
 * entry by entry. Each entry is written atomically; a lookup racing with
 * the update sees the old or the new owner of a bucket. */
static int write_table(struct sl_steer *s, const uint32_t *table)
{
    uint32_t *keys = malloc(SL_STEER_M * sizeof(*keys)), count = SL_STEER_M;
    if (!keys)
        return -ENOMEM;
    for (uint32_t i = 0; i < SL_STEER_M; i++)
        keys[i] = i;
    int r = bpf_map_update_batch(s->fd[F_MAGLEV], keys, table, &count, NULL);
    if (r < 0) {
        r = 0;
        for (uint32_t i = 0; i < SL_STEER_M && r == 0; i++)
            r = update(s, F_MAGLEV, &keys[i], &table[i]);
    }
    free(keys);
    return r;
}

int sl_steer_set_instances(struct sl_steer *s, const struct sl_steer_instance *v, size_t n)
{
    struct sl_maglev_backend b[SL_STEER_MAX_INST];
    uint8_t listed[SL_STEER_MAX_INST] = {0};
    if (n > SL_STEER_MAX_INST || (n > 0 && v == NULL))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (v[i].slot >= SL_STEER_MAX_INST || listed[v[i].slot] || v[i].name == NULL ||
            (v[i].kind != SL_STEER_INST_LOCAL && v[i].kind != SL_STEER_INST_REMOTE))
            return -EINVAL;
        listed[v[i].slot] = 1;
        b[i].name = v[i].name;
        b[i].weight = v[i].weight;
    }
    uint32_t *table = malloc(SL_STEER_M * sizeof(*table));
    if (!table)
        return -ENOMEM;
    int r = sl_maglev_build(b, n, SL_STEER_M, table);
    for (uint32_t i = 0; r == 0 && i < SL_STEER_M; i++) /* backend index -> slot */
        table[i] = table[i] == SL_MAGLEV_EMPTY ? SL_STEER_NO_INST : v[table[i]].slot;
    /* 1. instance slots, so that no bucket names a slot not yet filled in */
    for (size_t i = 0; r == 0 && i < n; i++) {
        struct sl_steer_inst in = {.kind = v[i].kind, .ifindex = v[i].ifindex,
                                   .host_addr = htonl(v[i].host_addr)};
        memcpy(in.dmac, v[i].dmac, 6);
        memcpy(in.smac, v[i].smac, 6);
        r = update(s, F_INST, &v[i].slot, &in);
    }
    /* 2. the table */
    if (r == 0)
        r = write_table(s, table);
    /* 3. slots no longer listed: overrides naming them now drop */
    for (uint32_t k = 0; r == 0 && k < SL_STEER_MAX_INST; k++) {
        if (listed[k])
            continue;
        struct sl_steer_inst none = {0};
        r = update(s, F_INST, &k, &none);
    }
    free(table);
    return r;
}

static struct sl_steer_flow flow_of(const struct sl_steer_tuple *t)
{
    struct sl_steer_flow f;
    memset(&f, 0, sizeof(f)); /* padding is part of the hash key */
    f.saddr = htonl(t->caddr);
    f.daddr = htonl(t->saddr);
    f.sport = htons(t->cport);
    f.dport = htons(t->sport);
    f.proto = 6; /* TCP */
    return f;
}

int sl_steer_override_set(struct sl_steer *s, const struct sl_steer_tuple *t, uint32_t slot)
{
    if (slot >= SL_STEER_MAX_INST)
        return -EINVAL;
    struct sl_steer_flow f = flow_of(t);
    return update(s, F_OVERRIDE, &f, &slot);
}

int sl_steer_override_del(struct sl_steer *s, const struct sl_steer_tuple *t)
{
    struct sl_steer_flow f = flow_of(t);
    return bpf_map_delete_elem(s->fd[F_OVERRIDE], &f) < 0 ? -errno : 0;
}

uint32_t sl_steer_bucket(const struct sl_steer_tuple *t)
{
    struct sl_steer_flow f = flow_of(t);
    return sl_steer_hash(f.saddr, f.daddr, f.sport, f.dport) % SL_STEER_M;
}

int sl_steer_lookup(struct sl_steer *s, const struct sl_steer_tuple *t, uint32_t *slot,
                    int *overridden)
{
    struct sl_steer_flow f = flow_of(t);
    uint32_t v;
    *overridden = bpf_map_lookup_elem(s->fd[F_OVERRIDE], &f, &v) == 0;
    if (!*overridden) {
        uint32_t b = sl_steer_bucket(t);
        if (bpf_map_lookup_elem(s->fd[F_MAGLEV], &b, &v) < 0)
            return -errno;
    }
    struct sl_steer_inst in;
    if (v >= SL_STEER_MAX_INST || bpf_map_lookup_elem(s->fd[F_INST], &v, &in) < 0 ||
        in.kind == 0)
        return -ENOENT;
    *slot = v;
    return 0;
}

int sl_steer_stats(struct sl_steer *s, uint32_t slot, uint64_t *packets, uint64_t *bytes)
{
    if (slot >= SL_STEER_MAX_INST || s->ncpu <= 0)
        return -EINVAL;
    struct sl_steer_stat *v = calloc((size_t)s->ncpu, sizeof(*v));
    if (!v)
        return -ENOMEM;
    int r = bpf_map_lookup_elem(s->fd[F_STATS], &slot, v) < 0 ? -errno : 0;
    *packets = *bytes = 0;
    for (int i = 0; r == 0 && i < s->ncpu; i++) {
        *packets += v[i].packets;
        *bytes += v[i].bytes;
    }
    free(v);
    return r;
}

int sl_steer_counter(struct sl_steer *s, unsigned which, uint64_t *value)
{
    if (which >= SL_STEER_C_MAX || s->ncpu <= 0)
        return -EINVAL;
    uint64_t *v = calloc((size_t)s->ncpu, sizeof(*v));
    if (!v)
        return -ENOMEM;
    int r = bpf_map_lookup_elem(s->fd[F_CTR], &which, v) < 0 ? -errno : 0;
    *value = 0;
    for (int i = 0; r == 0 && i < s->ncpu; i++)
        *value += v[i];
    free(v);
    return r;
}
