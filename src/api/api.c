/* The public API (include/sltcp/sltcp.h) over the stack layer. Every
 * function returns >= 0 or a negative errno. */
#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stack/persist.h"
#include "stack/stack.h"

#define SL_DEFAULT_SNDBUF (512u * 1024)
#define SL_DEFAULT_RCVBUF (256u * 1024)
#define SL_DEFAULT_MAX_CONNS 131072u

static int pow2(uint32_t v) { return v && !(v & (v - 1)); }

static int check_cfg(const struct sl_config *cfg, char *err, size_t errlen)
{
    if (!cfg || !cfg->addr || cfg->prefix_len == 0 || cfg->prefix_len > 32) {
        snprintf(err, errlen, "an address and a prefix length 1..32 are required");
        return -EINVAL;
    }
    uint32_t sndbuf = cfg->sndbuf ? cfg->sndbuf : SL_DEFAULT_SNDBUF;
    uint32_t rcvbuf = cfg->rcvbuf ? cfg->rcvbuf : SL_DEFAULT_RCVBUF;
    if (!pow2(sndbuf) || !pow2(rcvbuf) || sndbuf < 4096 || rcvbuf < 4096 ||
        sndbuf > (1u << 30) || rcvbuf > (1u << 30)) {
        snprintf(err, errlen, "buffer sizes must be powers of two between 4 KiB and 1 GiB");
        return -EINVAL;
    }
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -EIO;
    }
    return 0;
}

int sl_stack_create(const struct sl_config *cfg, sl_stack **out, char *err, size_t errlen)
{
    int r = check_cfg(cfg, err, errlen);
    if (r < 0)
        return r;
    if (!cfg->dev) {
        snprintf(err, errlen, "a device is required (packet:IFACE or tap:NAME)");
        return -EINVAL;
    }
    struct sl_io *io;
    struct sl_io_opts io_opts = {.rx_frames = cfg->rx_ring};
    r = sl_io_open_opts(cfg->dev, &io_opts, &io, err, errlen);
    if (r < 0)
        return r;
    return sl_stack_create_io(cfg, io, NULL, NULL, out, err, errlen);
}

int sl_stack_create_io(const struct sl_config *cfg, struct sl_io *io, sl_clock_fn clock,
                       void *clock_arg, struct sl_stack **out, char *err, size_t errlen)
{
    int r = check_cfg(cfg, err, errlen);
    if (r < 0) {
        io->ops->destroy(io);
        return r;
    }
    if (!clock)
        clock = sl_clock_default;
    if (cfg->impair && *cfg->impair) {
        struct sl_io *w;
        r = sl_io_impair_wrap(io, cfg->impair, clock, clock_arg, &w, err, errlen);
        if (r < 0) {
            io->ops->destroy(io);
            return r;
        }
        io = w;
    }
    struct sl_stack *s = calloc(1, sizeof(*s));
    if (!s) {
        io->ops->destroy(io);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->clock = clock;
    s->clock_arg = clock_arg;
    s->io = io;
    io->ctr = s->ctr;
    memcpy(s->mac, io->mac, 6);
    s->mtu = io->mtu ? io->mtu : 1500;
    s->addr = cfg->addr;
    s->netmask = cfg->prefix_len == 32 ? 0xffffffffu : ~(0xffffffffu >> cfg->prefix_len);
    s->gateway = cfg->gateway;
    s->tcfg.mss = (uint16_t)(s->mtu - 40); /* RFC 9293 3.7.1: MTU - IP - TCP headers */
    s->tcfg.sndbuf = cfg->sndbuf ? cfg->sndbuf : SL_DEFAULT_SNDBUF;
    s->tcfg.rcvbuf = cfg->rcvbuf ? cfg->rcvbuf : SL_DEFAULT_RCVBUF;
    s->tcfg.cc = (uint8_t)cfg->cc;
    s->tcfg.gso = io->max_gso > 0 && !cfg->no_gso;
    if (cfg->isn_key)
        memcpy(s->isn_key, cfg->isn_key, 16);
    else
        randombytes_buf(s->isn_key, sizeof(s->isn_key));
    s->max_conns = cfg->max_conns ? cfg->max_conns : SL_DEFAULT_MAX_CONNS;
    s->max_buf_bytes = cfg->max_buf_bytes;
    s->free_cap = 64; /* bounded: pooled rings keep their touched pages resident */
    s->free_snd = calloc(s->free_cap, sizeof(uint8_t *));
    s->free_rcv = calloc(s->free_cap, sizeof(uint8_t *));
    s->next_port = (uint16_t)(49152 + randombytes_uniform(16384));
    s->ip_id = (uint16_t)randombytes_random();
    s->ttl = cfg->ttl ? cfg->ttl : 64;
    s->tos = cfg->tos;
    if (!s->free_snd || !s->free_rcv || sl_table_init(s, s->max_conns) < 0) {
        snprintf(err, errlen, "out of memory for %u connections", s->max_conns);
        sl_stack_destroy(s);
        return -ENOMEM;
    }
    s->now = SL_NOW(s);
    if (cfg->store && *cfg->store) {
        r = sl_persist_create(s, cfg->store, cfg->store_key, &s->persist, err, errlen);
        if (r < 0) {
            sl_stack_destroy(s);
            return r;
        }
    }
    *out = s;
    return 0;
}

void sl_stack_destroy(sl_stack *s)
{
    if (!s)
        return;
    if (s->persist && s->table) {
        /* a stop is not the end of the flows: their last state goes to the
         * store, where the next instance finds it */
        s->now = SL_NOW(s);
        sl_persist_drain(s);
    }
    /* every connection, in the table or not (closed ones the application
     * still holds, superseded or evicted ones not yet delivered) */
    while (s->all_head) {
        struct sl_conn *c = s->all_head;
        s->all_head = c->all_next;
        sl_persist_drop(c);
        free(c->snd);
        free(c->rcv);
        free(c);
    }
    for (unsigned i = 0; i < SL_MAX_LISTENERS; i++)
        free(s->listeners[i]);
    for (unsigned i = 0; i < s->arpq_len; i++)
        free(s->arpq[i].buf);
    sl_table_free(s);
    sl_ring_pool_free(s);
    sl_persist_destroy(s);
    if (s->io)
        s->io->ops->destroy(s->io);
    free(s);
}

void sl_stack_crash(struct sl_stack *s, struct sl_io **io)
{
    *io = sl_io_hold_unwrap(s->io);
    s->io = NULL;
    sl_persist_destroy(s); /* no final flush: a crash writes nothing */
    sl_stack_destroy(s);
}

int sl_run(sl_stack *s, int timeout_ms) { return sl_stack_step(s, timeout_ms); }

uint64_t sl_now_us(sl_stack *s) { return s->now; }

int sl_listen(sl_stack *s, uint16_t port, const struct sl_listen_opts *opts, sl_listen_cb cb,
              void *user, sl_listener **out)
{
    if (port == 0)
        return -EINVAL;
    int slot = -1;
    for (int i = 0; i < SL_MAX_LISTENERS; i++) {
        if (s->listeners[i] && s->listeners[i]->port == port)
            return -EADDRINUSE;
        if (!s->listeners[i] && slot < 0)
            slot = i;
    }
    if (slot < 0)
        return -ENOSPC;
    struct sl_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->stack = s;
    l->port = port;
    l->backlog = opts && opts->backlog ? opts->backlog : 1024;
    l->syncookies = !(opts && opts->no_syncookies);
    l->cb = cb;
    l->user = user;
    if (opts && opts->durability != SL_DUR_OFF) {
        if (!s->persist || opts->durability > SL_DUR_SYNC) {
            free(l);
            return -EINVAL; /* durability needs sl_config.store */
        }
        if (opts->durability == SL_DUR_SYNC && !sl_io_is_hold(s->io)) {
            struct sl_io *h;
            int r = sl_io_hold_wrap(s->io, &h);
            if (r < 0) {
                free(l);
                return r;
            }
            s->io = h; /* output commit: frames wait for the store */
        }
        l->durability = (uint8_t)opts->durability;
        l->commit = opts->commit != 0;
        l->ref_read = opts->ref_read;
        l->on_restore = opts->on_restore;
        l->evict_idle_ms = opts->evict_idle_ms;
        if (opts->durability == SL_DUR_ASYNC && !sl_io_is_hold(s->io))
            sl_persist_offload_start(s); /* failing that, writes stay in the loop */
    }
    s->listeners[slot] = l;
    *out = l;
    s->now = SL_NOW(s);
    sl_persist_restore_all(s, l);
    return 0;
}

int sl_accept(sl_listener *l, sl_conn **out)
{
    struct sl_conn *c = l->acc_head;
    if (!c)
        return -EAGAIN;
    l->acc_head = c->next_accept;
    if (!l->acc_head)
        l->acc_tail = NULL;
    c->sflags &= (uint8_t)~SL_CF_IN_ACCEPTQ;
    c->sflags |= SL_CF_ACCEPTED;
    c->listener = NULL;
    l->pending--;
    *out = c;
    if (c->p && (c->p->flags & SL_PC_RESTORED) && l->on_restore)
        l->on_restore(c, c->p->ckpt, c->p->ckpt_len, l->user); /* as restored: the
                                                                  app cannot change it before */
    return 0;
}

void sl_listener_close(sl_listener *l)
{
    struct sl_stack *s = l->stack;
    sl_conn *c;
    while (sl_accept(l, &c) == 0)
        sl_abort(c);
    for (unsigned i = 0; i < SL_MAX_LISTENERS; i++)
        if (s->listeners[i] == l)
            s->listeners[i] = NULL;
    /* Half-open connections belong to nobody now: reset them and let
     * them be freed (one at a time: aborting reorders the table). */
    for (;;) {
        sl_conn *half = NULL;
        for (uint32_t i = 0; s->table && i <= s->table_mask && !half; i++)
            if (s->table[i] && s->table[i]->listener == l)
                half = s->table[i];
        if (!half)
            break;
        half->listener = NULL;
        sl_abort(half);
    }
    free(l);
}

static int connect_common(sl_stack *s, uint32_t daddr, uint16_t dport,
                          const struct sl_srcroute *route, sl_conn **out);

int sl_connect(sl_stack *s, uint32_t daddr, uint16_t dport, sl_conn **out)
{
    return connect_common(s, daddr, dport, NULL, out);
}

int sl_connect_route(sl_stack *s, uint32_t daddr, uint16_t dport, const uint32_t *hops,
                     unsigned nhops, int strict, sl_conn **out)
{
    if (!hops || nhops == 0 || nhops > SL_SRCROUTE_MAX)
        return -EINVAL;
    struct sl_srcroute r = {.type = strict ? SL_IPOPT_SSRR : SL_IPOPT_LSRR, .n = (uint8_t)nhops};
    for (unsigned i = 0; i < nhops; i++) {
        if (sl_netif_bad_addr(s, hops[i]) || hops[i] == s->addr)
            return -EINVAL;
        r.hop[i] = hops[i];
    }
    return connect_common(s, daddr, dport, &r, out);
}

static int connect_common(sl_stack *s, uint32_t daddr, uint16_t dport,
                          const struct sl_srcroute *route, sl_conn **out)
{
    /* RFC 9293 3.9.1.1 MUST-46: no OPEN to a broadcast, multicast, loopback
     * or reserved address, nor to ourselves. */
    if (!dport || sl_netif_bad_addr(s, daddr) || daddr == s->addr || (daddr >> 28) == 0xf)
        return -EINVAL;
    uint16_t port = 0;
    for (unsigned tries = 0; tries < 16384; tries++) {
        uint16_t p = s->next_port++;
        if (s->next_port < 49152)
            s->next_port = 49152;
        if (p >= 49152 && !sl_table_find(s, daddr, dport, p)) {
            port = p;
            break;
        }
    }
    if (!port)
        return -EADDRNOTAVAIL;
    struct sl_conn *c = sl_conn_new(s, 1);
    if (!c)
        return s->nconns >= s->max_conns ? -EMFILE : -ENOMEM;
    s->now = SL_NOW(s);
    uint32_t iss = sl_tcp_isn(s->isn_key, s->addr, port, daddr, dport, s->now);
    struct sl_tcp_out *o = sl_out_reset(s);
    sl_tcp_open_active(&c->tcb, &s->tcfg, s->now, s->addr, port, daddr, dport, iss,
                       randombytes_random(), o);
    if (route) /* RFC 9293 3.9.2.1 MUST-51/52: the application's route, kept */
        sl_conn_set_route(c, route, 1);
    c->sflags |= SL_CF_ACCEPTED;
    sl_table_insert(s, c);
    sl_conn_after(s, c);
    *out = c;
    return 0;
}

void sl_conn_set_cb(sl_conn *c, sl_conn_cb cb, void *user)
{
    c->cb = cb;
    c->user = user;
    unsigned ev = 0;
    if (sl_tcp_readable(&c->tcb) || (c->tcb.flags & SL_TF_FIN_RCVD) || c->tcb.err)
        ev |= SL_EV_READABLE;
    if (c->tcb.state >= SL_TCP_ESTABLISHED && sl_tcp_send_space(&c->tcb))
        ev |= SL_EV_WRITABLE;
    if (ev)
        sl_conn_wake(c->stack, c, ev);
}

void *sl_conn_user(const sl_conn *c) { return c->user; }

ssize_t sl_read(sl_conn *c, void *buf, size_t len)
{
    if (c->sflags & SL_CF_APP_CLOSED)
        return -EBADF;
    if (!c->rcv)
        return c->tcb.err ? c->tcb.err : 0;
    uint32_t want = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len, n;
    if (c->p && (c->p->flags & SL_PC_COMMIT)) {
        /* level 2: the app reads at app_read; RCV.READ (the window's left
         * edge) stays at the commit point until sl_conn_commit */
        uint32_t commit = c->tcb.rcv_read;
        c->tcb.rcv_read = c->p->app_read;
        n = sl_tcp_read(&c->tcb, &(struct sl_tcp_bufs){c->snd, c->rcv}, buf, want);
        c->p->app_read = c->tcb.rcv_read;
        c->tcb.rcv_read = commit;
        if (n)
            return n;
    } else {
        n = sl_tcp_read(&c->tcb, &(struct sl_tcp_bufs){c->snd, c->rcv}, buf, want);
    }
    if (n) {
        sl_conn_mark_dirty(c->stack, c); /* maybe a window update */
        return n;
    }
    if (c->tcb.flags & SL_TF_FIN_RCVD)
        return 0;
    if (c->tcb.err)
        return c->tcb.err;
    if (c->tcb.state == SL_TCP_CLOSED)
        return 0;
    return -EAGAIN;
}

static int can_write(const struct sl_conn *c)
{
    switch (c->tcb.state) {
    case SL_TCP_SYN_SENT: case SL_TCP_SYN_RCVD: case SL_TCP_ESTABLISHED: case SL_TCP_CLOSE_WAIT:
        return !(c->tcb.flags & SL_TF_FIN_QUEUED);
    default:
        return 0;
    }
}

ssize_t sl_write(sl_conn *c, const void *buf, size_t len)
{
    if (c->sflags & SL_CF_APP_CLOSED)
        return -EBADF;
    if (c->tcb.err)
        return c->tcb.err;
    if (!can_write(c) || !c->snd)
        return -EPIPE;
    if (len == 0)
        return 0;
    uint32_t n = sl_tcp_write(&c->tcb, &(struct sl_tcp_bufs){c->snd, c->rcv}, buf,
                              len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
    if (!n)
        return -EAGAIN;
    sl_conn_mark_dirty(c->stack, c);
    return n;
}

ssize_t sl_write_urgent(sl_conn *c, const void *buf, size_t len)
{
    ssize_t n = sl_write(c, buf, len);
    if (n > 0)
        sl_tcp_mark_urgent(&c->tcb); /* the urgent data ends after what was queued */
    return n;
}

size_t sl_conn_urgent(const sl_conn *c)
{
    uint32_t read = c->tcb.rcv_read;
    if (c->p && (c->p->flags & SL_PC_COMMIT))
        read = c->p->app_read;
    return sl_tcp_urgent_left(&c->tcb, read);
}

size_t sl_write_space(const sl_conn *c)
{
    return can_write(c) && c->snd ? sl_tcp_send_space(&c->tcb) : 0;
}

int sl_shutdown(sl_conn *c, int how)
{
    if (c->sflags & SL_CF_APP_CLOSED)
        return -EBADF;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    struct sl_stack *s = c->stack;
    if (how == SHUT_RD || how == SHUT_RDWR)
        sl_tcp_shutdown_rd(&c->tcb);
    if (how == SHUT_WR || how == SHUT_RDWR) {
        s->now = SL_NOW(s);
        sl_tcp_close(&c->tcb, s->now, sl_out_reset(s));
        sl_conn_after(s, c);
        sl_conn_mark_dirty(s, c);
    }
    return 0;
}

/* Bytes received and not yet read by the application. */
static uint32_t conn_unread(const struct sl_conn *c)
{
    uint32_t n = sl_tcp_readable(&c->tcb);
    if (c->p && (c->p->flags & SL_PC_COMMIT))
        n -= c->p->app_read - c->tcb.rcv_read;
    return n;
}

int sl_close(sl_conn *c)
{
    if (c->sflags & SL_CF_APP_CLOSED)
        return -EBADF;
    struct sl_stack *s = c->stack;
    if (!(c->sflags & SL_CF_DEAD)) {
        s->now = SL_NOW(s);
        struct sl_tcp_out *o = sl_out_reset(s);
        if (conn_unread(c)) {
            sl_tcp_abort(&c->tcb, s->now, o); /* RFC 1122 4.2.2.13: unread data -> RST */
        } else {
            sl_tcp_shutdown_rd(&c->tcb);
            sl_tcp_close(&c->tcb, s->now, o);
            if (c->tcb.state == SL_TCP_FIN_WAIT_2 && !c->tcb.t_keep)
                c->tcb.t_keep = s->now + SL_TCP_FIN_WAIT2_US;
        }
        sl_conn_after(s, c);
        sl_conn_mark_dirty(s, c);
    }
    sl_conn_release(s, c);
    return 0;
}

int sl_abort(sl_conn *c)
{
    if (c->sflags & SL_CF_APP_CLOSED)
        return -EBADF;
    struct sl_stack *s = c->stack;
    if (!(c->sflags & SL_CF_DEAD)) {
        s->now = SL_NOW(s);
        sl_tcp_abort(&c->tcb, s->now, sl_out_reset(s));
        sl_conn_after(s, c);
    }
    sl_conn_release(s, c);
    return 0;
}

int sl_conn_error(const sl_conn *c) { return c->tcb.err; }

int sl_conn_soft_error(sl_conn *c)
{
    int e = c->soft_err;
    c->soft_err = 0;
    return e;
}

/* ---- externalized state ---- */

int sl_conn_restored(const sl_conn *c) { return c->p && (c->p->flags & SL_PC_RESTORED); }

int sl_conn_checkpoint(sl_conn *c, const void *blob, size_t len)
{
    if (c->sflags & SL_CF_APP_CLOSED)
        return -EBADF;
    if (!c->p || (len && !blob))
        return -EINVAL;
    return sl_persist_checkpoint(c->stack, c, blob, len);
}

int sl_conn_commit(sl_conn *c, size_t n)
{
    if (c->sflags & SL_CF_APP_CLOSED)
        return -EBADF;
    if (!c->p || !(c->p->flags & SL_PC_COMMIT))
        return -EINVAL;
    if (n > (size_t)(c->p->app_read - c->tcb.rcv_read))
        return -EINVAL;
    if (n) {
        c->tcb.rcv_read += (uint32_t)n;
        sl_conn_mark_dirty(c->stack, c); /* maybe a window update */
        sl_persist_mark(c->stack, c);
    }
    return 0;
}

ssize_t sl_write_ref(sl_conn *c, const char *object, uint64_t off, const void *buf, size_t len)
{
    if (!object)
        return -EINVAL;
    uint32_t seq = c->tcb.snd_end;
    ssize_t n = sl_write(c, buf, len);
    if (n > 0)
        sl_persist_add_ref(c, seq, (uint32_t)n, object, off);
    return n;
}

uint32_t sl_conn_write_seq(const sl_conn *c) { return c->tcb.snd_end; }

int sl_conn_setopt(sl_conn *c, enum sl_opt opt, int value)
{
    switch (opt) {
    case SL_OPT_NODELAY:
        if (value)
            c->tcb.flags |= SL_TF_NODELAY;
        else
            c->tcb.flags &= ~(uint32_t)SL_TF_NODELAY;
        sl_conn_mark_dirty(c->stack, c);
        return 0;
    case SL_OPT_KEEPIDLE:
        if (value < 1)
            return -EINVAL;
        c->keepidle_cfg = (uint32_t)value;
        if (!c->tcb.keepidle_s)
            return 0;
        /* fall through: re-arm with the new idle time */
        value = 1;
        /* fallthrough */
    case SL_OPT_KEEPALIVE:
        if (value < 0)
            return -EINVAL;
        c->tcb.keepidle_s = value ? c->keepidle_cfg : 0;
        if (c->tcb.state == SL_TCP_ESTABLISHED || c->tcb.state == SL_TCP_CLOSE_WAIT) {
            struct sl_stack *s = c->stack;
            c->tcb.t_keep = value ? SL_NOW(s) + (uint64_t)c->tcb.keepidle_s * 1000000u : 0;
            sl_out_reset(s);
            sl_conn_after(s, c);
        }
        return 0;
    case SL_OPT_RETRIES:
        if (value < 0 || value > 255)
            return -EINVAL;
        c->tcb.r2 = (uint8_t)value;
        return 0;
    case SL_OPT_TOS: /* RFC 9293 3.9.1.9 MUST-48 */
        if (value < 0 || value > 255)
            return -EINVAL;
        c->tos = (uint8_t)value;
        return 0;
    }
    return -EINVAL;
}

int sl_conn_info(const sl_conn *c, struct sl_conn_info *o)
{
    const struct sl_tcb *t = &c->tcb;
    memset(o, 0, sizeof(*o));
    o->laddr = t->laddr;
    o->raddr = t->raddr;
    o->lport = t->lport;
    o->rport = t->rport;
    o->state = t->state;
    o->srtt_us = t->srtt;
    o->rto_us = t->rto;
    o->cwnd = t->cwnd;
    o->ssthresh = t->ssthresh;
    o->snd_mss = t->snd_mss;
    o->retransmits = t->retrans_total;
    return 0;
}

const char *sl_state_name(uint8_t state) { return sl_tcp_state_name(state); }

unsigned sl_stats_count(void) { return SL_CTR__COUNT; }
const char *sl_stats_name(unsigned i) { return i < SL_CTR__COUNT ? sl_ctr_names[i] : NULL; }
uint64_t sl_stats_value(const sl_stack *s, unsigned i) { return i < SL_CTR__COUNT ? s->ctr[i] : 0; }
unsigned sl_conn_count(const sl_stack *s) { return s->nconns; }

void sl_stats_dump(const sl_stack *s, int fd, int all)
{
    char line[128];
    for (unsigned i = 1; i < SL_CTR__COUNT; i++) {
        if (!all && !s->ctr[i])
            continue;
        int n = snprintf(line, sizeof(line), "%s %llu\n", sl_ctr_names[i],
                         (unsigned long long)s->ctr[i]);
        if (write(fd, line, (size_t)n) < 0)
            return;
    }
    int n = snprintf(line, sizeof(line), "conns_open %u\n", s->nconns);
    if (write(fd, line, (size_t)n) < 0)
        return;
}

const char *sl_strerror(int err) { return strerror(err < 0 ? -err : err); }

int sl_impair_check(const char *spec, char *err, size_t errlen)
{
    return sl_io_impair_check(spec, err, errlen);
}

int sl_parse_ip(const char *str, uint32_t *out)
{
    struct in_addr a;
    if (!str || inet_pton(AF_INET, str, &a) != 1)
        return -EINVAL;
    *out = ntohl(a.s_addr);
    return 0;
}

int sl_parse_cidr(const char *str, uint32_t *addr, uint8_t *len)
{
    char buf[32];
    const char *slash = str ? strchr(str, '/') : NULL;
    if (!slash || (size_t)(slash - str) >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, str, (size_t)(slash - str));
    buf[slash - str] = 0;
    char *end;
    long l = strtol(slash + 1, &end, 10);
    if (*end || end == slash + 1 || l < 1 || l > 32)
        return -EINVAL;
    if (sl_parse_ip(buf, addr) < 0)
        return -EINVAL;
    *len = (uint8_t)l;
    return 0;
}
