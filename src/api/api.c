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

#include "api/device.h"
#include "stack/persist.h"
#include "stack/stack.h"

int sl_stack_create(const struct sl_config *cfg, sl_stack **out, char *err, size_t errlen)
{
    int r = sl_stack_check_cfg(cfg, err, errlen);
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

int sl_stack_create_dev(const struct sl_config *cfg, const struct sl_device *dev, sl_stack **out,
                        char *err, size_t errlen)
{
    struct sl_io *io;
    int r = sl_device_io(dev, &io, err, errlen);
    if (r < 0) {
        if (dev && dev->ops && dev->ops->destroy)
            dev->ops->destroy(dev->ctx);
        return r;
    }
    return sl_stack_create_io(cfg, io, NULL, NULL, out, err, errlen);
}

void sl_stack_destroy(sl_stack *s) { sl_stack_free(s); }

int sl_run(sl_stack *s, int timeout_ms) { return sl_stack_step(s, timeout_ms); }

int sl_poll_fd(sl_stack *s, int *timeout_ms)
{
    /* work queued outside sl_run (writes, closes) is due at once */
    int wait = s->pending_head || s->dirty_head || s->n_notify ? 0 : sl_stack_wait_ms(s, -1);
    *timeout_ms = wait > 60000 ? 60000 : wait;
    return s->io->ops->poll_fd(s->io);
}

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
        l->durability = (uint8_t)opts->durability;
        l->commit = opts->commit != 0;
        l->ref_read = opts->ref_read;
        l->on_restore = opts->on_restore;
        l->evict_idle_ms = opts->evict_idle_ms;
        int r = sl_persist_listen(s, l); /* output commit, offloader, eviction */
        if (r < 0) {
            free(l);
            return r;
        }
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

int sl_conn_restored_checkpoint(const sl_conn *c, const void **blob, size_t *len)
{
    if (!blob || !len)
        return -EINVAL;
    *blob = NULL;
    *len = 0;
    if (!sl_conn_restored(c))
        return -ENOENT;
    *blob = c->p->ckpt_len ? c->p->ckpt : NULL; /* replaced by sl_conn_checkpoint */
    *len = c->p->ckpt_len;
    return 0;
}

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

uint64_t sl_conn_write_off(const sl_conn *c)
{
    return (uint64_t)c->tcb.snd_off_hi << 32 | (uint32_t)(c->tcb.snd_end - c->tcb.iss - 1);
}

int sl_conn_synced(const sl_conn *c) { return sl_persist_synced(c); }

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
        c->tcb.keepidle_cfg = (uint32_t)value;
        if (c->p)
            sl_persist_mark(c->stack, c);
        if (!c->tcb.keepidle_s)
            return 0;
        /* fall through: re-arm with the new idle time */
        value = 1;
        /* fallthrough */
    case SL_OPT_KEEPALIVE:
        if (value < 0)
            return -EINVAL;
        c->tcb.keepidle_s = value ? c->tcb.keepidle_cfg : 0;
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
        if (c->p)
            sl_persist_mark(c->stack, c); /* the record keeps it */
        return 0;
    case SL_OPT_TOS: /* RFC 9293 3.9.1.9 MUST-48 */
        if (value < 0 || value > 255)
            return -EINVAL;
        c->tcb.tos = (uint8_t)value;
        if (c->p)
            sl_persist_mark(c->stack, c);
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

