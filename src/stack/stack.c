/* The stack: connection lifecycle, TCP demultiplexing, event delivery and
 * the event loop step. */
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet/fleet_key.h"
#include "stack/persist.h"
#include "stack/stack.h"

uint64_t sl_clock_default(void *arg)
{
    (void)arg;
    return sl_clock_us();
}

struct sl_tcp_out *sl_out_reset(struct sl_stack *s)
{
    s->out.n = 0;
    s->out.events = 0;
    s->out.ctr = s->ctr;
    return &s->out;
}

/* ---------------- assembly and teardown ---------------- */

#define SL_DEFAULT_SNDBUF (512u * 1024)
#define SL_DEFAULT_RCVBUF (256u * 1024)
#define SL_DEFAULT_MAX_CONNS 131072u

static int pow2(uint32_t v) { return v && !(v & (v - 1)); }

int sl_stack_check_cfg(const struct sl_config *cfg, char *err, size_t errlen)
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

int sl_stack_create_io(const struct sl_config *cfg, struct sl_io *io, sl_clock_fn clock,
                       void *clock_arg, struct sl_stack **out, char *err, size_t errlen)
{
    int r = sl_stack_check_cfg(cfg, err, errlen);
    if (r < 0) {
        io->ops->destroy(io);
        return r;
    }
    if (!clock) {
        clock = cfg->clock_us ? cfg->clock_us : sl_clock_default;
        clock_arg = cfg->clock_us ? cfg->clock_arg : NULL;
    }
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
    s->tcfg.cc = cfg->cc == SL_CC_CUBIC ? SL_TCP_CC_CUBIC : SL_TCP_CC_NEWRENO;
    s->tcfg.gso = io->max_gso > 0 && !cfg->no_gso;
    s->tcfg.no_ecn = cfg->no_ecn;
    s->tcfg.ecn_active = cfg->ecn_connect && !cfg->no_ecn;
    /* The fleet secret (docs/fleet.md): with a store key, the ISN, SYN-cookie
     * and record MAC keys all derive from it, the same on every instance. */
    struct sl_fleet_keys fk;
    if (cfg->store_key)
        sl_fleet_keys_derive(cfg->store_key, &fk);
    if (cfg->isn_key) {
        memcpy(s->isn_key, cfg->isn_key, 16);
        memcpy(s->cookie_key, cfg->isn_key, 16);
    } else if (cfg->store_key) {
        memcpy(s->isn_key, fk.isn, 16);
        memcpy(s->cookie_key, fk.cookie, 16);
        s->fleet_keyed = true;
    } else {
        randombytes_buf(s->isn_key, sizeof(s->isn_key));
        randombytes_buf(s->cookie_key, sizeof(s->cookie_key));
    }
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
        sodium_memzero(&fk, sizeof(fk));
        sl_stack_free(s);
        return -ENOMEM;
    }
    s->now = SL_NOW(s);
    if (cfg->store && *cfg->store) {
        r = sl_persist_create(s, cfg->store, cfg->store_key ? fk.record_mac : NULL, &s->persist,
                              err, errlen);
        sodium_memzero(&fk, sizeof(fk));
        if (r < 0) {
            sl_stack_free(s);
            return r;
        }
    }
    *out = s;
    return 0;
}

void sl_stack_free(struct sl_stack *s)
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
    sl_stack_free(s);
}

/* ---------------- ring pool ---------------- */

static uint8_t *ring_alloc(struct sl_stack *s, int snd)
{
    uint8_t ***fl = snd ? &s->free_snd : &s->free_rcv;
    uint32_t *n = snd ? &s->n_free_snd : &s->n_free_rcv;
    uint32_t sz = snd ? s->tcfg.sndbuf : s->tcfg.rcvbuf;
    uint8_t *p = *n ? (*fl)[--*n] : malloc(sz);
    if (p)
        s->buf_bytes += sz;
    return p;
}

static void ring_free(struct sl_stack *s, uint8_t *p, int snd)
{
    if (!p)
        return;
    uint8_t ***fl = snd ? &s->free_snd : &s->free_rcv;
    uint32_t *n = snd ? &s->n_free_snd : &s->n_free_rcv;
    s->buf_bytes -= snd ? s->tcfg.sndbuf : s->tcfg.rcvbuf;
    if (*n < s->free_cap)
        (*fl)[(*n)++] = p;
    else
        free(p);
}

/* Would one more connection fit the limits? Counts the refusal if not.
 * TIME-WAIT connections do not count (RFC 9293 MUST-13 keeps them 4
 * minutes; they hold a control block only and are bounded separately). */
static int conn_admit(struct sl_stack *s)
{
    if (s->nconns - s->n_tw >= s->max_conns) {
        SCTR(s, drop_tcp_max_conns);
        return 0;
    }
    if (s->max_buf_bytes &&
        s->buf_bytes + s->tcfg.sndbuf + s->tcfg.rcvbuf > s->max_buf_bytes) {
        SCTR(s, drop_tcp_nomem);
        return 0;
    }
    return 1;
}

void sl_ring_pool_free(struct sl_stack *s)
{
    for (uint32_t i = 0; i < s->n_free_snd; i++)
        free(s->free_snd[i]);
    for (uint32_t i = 0; i < s->n_free_rcv; i++)
        free(s->free_rcv[i]);
    free(s->free_snd);
    free(s->free_rcv);
}

/* ---------------- connection lifecycle ---------------- */

/* Gives c its send and receive rings (counted against the budget). */
static int conn_rings(struct sl_stack *s, struct sl_conn *c)
{
    c->snd = ring_alloc(s, 1);
    c->rcv = ring_alloc(s, 0);
    if (!c->snd || !c->rcv) {
        ring_free(s, c->snd, 1);
        ring_free(s, c->rcv, 0);
        c->snd = c->rcv = NULL;
        SCTR(s, drop_tcp_nomem);
        return -1;
    }
    return 0;
}

struct sl_conn *sl_conn_new(struct sl_stack *s, int rings)
{
    if (!conn_admit(s))
        return NULL;
    struct sl_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        SCTR(s, drop_tcp_nomem);
        return NULL;
    }
    if (rings && conn_rings(s, c) < 0) {
        free(c);
        return NULL;
    }
    c->stack = s;
    c->tcb.keepidle_cfg = SL_TCP_KEEPIDLE_DEFAULT_S;
    c->tcb.tos = s->tos;
    c->all_next = s->all_head;
    if (s->all_head)
        s->all_head->all_prev = c;
    s->all_head = c;
    s->nconns++;
    return c;
}

static void tw_unlink(struct sl_stack *s, struct sl_conn *c)
{
    if (!c->on_tw)
        return;
    if (c->tw_prev)
        c->tw_prev->tw_next = c->tw_next;
    else
        s->tw_head = c->tw_next;
    if (c->tw_next)
        c->tw_next->tw_prev = c->tw_prev;
    else
        s->tw_tail = c->tw_prev;
    c->tw_prev = c->tw_next = NULL;
    c->on_tw = 0;
    s->n_tw--;
}

static void conn_free(struct sl_stack *s, struct sl_conn *c)
{
    tw_unlink(s, c);
    sl_persist_forget(s, c);
    sl_table_remove(s, c);
    sl_heap_update(s, c, 0);
    ring_free(s, c->snd, 1);
    ring_free(s, c->rcv, 0);
    s->nconns--;
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        s->all_head = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    free(c);
}

static void pending_add(struct sl_stack *s, struct sl_conn *c)
{
    if (c->sflags & SL_CF_PENDING)
        return;
    c->sflags |= SL_CF_PENDING;
    c->next_pending = s->pending_head;
    s->pending_head = c;
}

void sl_conn_mark_dirty(struct sl_stack *s, struct sl_conn *c)
{
    if (c->sflags & (SL_CF_DIRTY | SL_CF_DEAD))
        return;
    c->sflags |= SL_CF_DIRTY;
    c->next_dirty = s->dirty_head;
    s->dirty_head = c;
}

static void listener_notify(struct sl_stack *s, struct sl_listener *l)
{
    if (l->notify)
        return;
    l->notify = true;
    if (s->n_notify < SL_MAX_LISTENERS)
        s->notify_list[s->n_notify++] = l;
}

static void accept_queue_add(struct sl_stack *s, struct sl_listener *l, struct sl_conn *c)
{
    c->sflags |= SL_CF_IN_ACCEPTQ;
    c->next_accept = NULL;
    if (l->acc_tail)
        l->acc_tail->next_accept = c;
    else
        l->acc_head = c;
    l->acc_tail = c;
    listener_notify(s, l);
}

static unsigned map_events(unsigned tev)
{
    unsigned ev = 0;
    if (tev & SL_TEV_READABLE)
        ev |= SL_EV_READABLE;
    if (tev & SL_TEV_WRITABLE)
        ev |= SL_EV_WRITABLE;
    if (tev & SL_TEV_CONNECTED)
        ev |= SL_EV_CONNECTED | SL_EV_WRITABLE;
    if (tev & SL_TEV_HUP)
        ev |= SL_EV_HUP | SL_EV_READABLE;
    if (tev & SL_TEV_ERROR)
        ev |= SL_EV_ERROR | SL_EV_READABLE | SL_EV_WRITABLE;
    if (tev & SL_TEV_URGENT)
        ev |= SL_EV_URGENT | SL_EV_READABLE;
    return ev;
}

void sl_conn_after(struct sl_stack *s, struct sl_conn *c)
{
    struct sl_tcp_out *out = &s->out;
    if (out->n && s->persist)
        sl_persist_tx(s, c); /* held only if c's state must be durable first */
    for (unsigned i = 0; i < out->n; i++)
        sl_netif_tx_tcp(s, &c->tcb, c->snd, &out->seg[i], c->tcb.tos, &c->tcb.route);
    if (out->n && s->persist)
        sl_persist_tx(s, NULL);
    out->n = 0;
    unsigned tev = out->events;
    out->events = 0;
    if (tev & SL_TEV_R1) {
        /* RFC 9293 3.8.3 MUST-20/22: R1 reached. Negative advice to IP: the
         * next hop is resolved again (it may have moved: a failover); the
         * application hears of it as a soft error (MUST-47). */
        SCTR(s, tcp_r1_advice);
        sl_netif_arp_forget(s, c->tcb.raddr);
        c->soft_err = -ETIMEDOUT;
        sl_conn_wake(s, c, SL_EV_SOFTERR);
    }
    if (c->p)
        sl_persist_mark(s, c); /* written at the end of the iteration */

    if (tev & SL_TEV_CLOSED) {
        c->sflags |= SL_CF_DEAD;
        sl_table_remove(s, c);
        sl_heap_update(s, c, 0);
    } else {
        uint64_t d = sl_tcp_next_deadline(&c->tcb);
        if (d && d <= s->now)
            d = s->now + 1; /* never spin on a deadline already past */
        sl_heap_update(s, c, d);
    }
    if (c->tcb.state == SL_TCP_TIME_WAIT && !c->on_tw) {
        c->on_tw = 1; /* oldest first: every TIME-WAIT lasts the same 2 MSL */
        c->tw_prev = s->tw_tail;
        c->tw_next = NULL;
        if (s->tw_tail)
            s->tw_tail->tw_next = c;
        else
            s->tw_head = c;
        s->tw_tail = c;
        s->n_tw++;
        if (s->n_tw > s->max_conns && s->tw_head != c) {
            /* bounded like Linux's tcp_max_tw_buckets: the oldest goes */
            struct sl_conn *old = s->tw_head;
            tw_unlink(s, old);
            SCTR(s, tcp_timewait_recycled);
            old->tcb.state = SL_TCP_CLOSED;
            struct sl_tcp_out saved = s->out;
            struct sl_tcp_out *o = sl_out_reset(s);
            o->events = SL_TEV_CLOSED;
            sl_conn_after(s, old);
            s->out = saved;
        }
    } else if (c->on_tw && c->tcb.state != SL_TCP_TIME_WAIT) {
        tw_unlink(s, c);
    }
    if (c->tcb.state == SL_TCP_TIME_WAIT && (c->sflags & SL_CF_APP_CLOSED) && c->snd) {
        /* TIME-WAIT keeps only the control block */
        ring_free(s, c->snd, 1);
        ring_free(s, c->rcv, 0);
        c->snd = c->rcv = NULL;
    }

    struct sl_listener *l = c->listener;
    if (l && !(c->sflags & SL_CF_ACCEPTED)) {
        if ((tev & SL_TEV_CONNECTED) && !(c->sflags & SL_CF_IN_ACCEPTQ))
            accept_queue_add(s, l, c);
        c->ev |= map_events(tev);
        if ((c->sflags & SL_CF_DEAD) && !(c->sflags & SL_CF_IN_ACCEPTQ)) {
            l->pending--; /* died half-open: nobody ever saw it */
            c->sflags |= SL_CF_APP_CLOSED;
            c->listener = NULL;
            pending_add(s, c);
        }
        return;
    }
    unsigned ev = map_events(tev);
    if (ev || (c->sflags & SL_CF_DEAD)) {
        c->ev |= ev;
        pending_add(s, c);
    }
}


void sl_conn_wake(struct sl_stack *s, struct sl_conn *c, unsigned ev)
{
    c->ev |= ev;
    pending_add(s, c);
}

void sl_conn_release(struct sl_stack *s, struct sl_conn *c)
{
    c->sflags |= SL_CF_APP_CLOSED;
    pending_add(s, c);
}

/* ---------------- calls from persistence ---------------- */

void sl_stack_adopt(struct sl_stack *s, struct sl_listener *l, struct sl_conn *c,
                    enum sl_adopt how)
{
    sl_table_insert(s, c);
    if (how == SL_ADOPT_ORPHAN) {
        c->sflags |= SL_CF_APP_CLOSED | SL_CF_ACCEPTED;
    } else {
        c->listener = l;
        l->pending++;
        if (how == SL_ADOPT_ACCEPT)
            accept_queue_add(s, l, c);
    }
    struct sl_tcp_out *out = sl_out_reset(s);
    struct sl_tcp_bufs b = {c->snd, c->rcv};
    sl_tcp_restored(&c->tcb, &b, s->now, out);
    sl_conn_after(s, c);
}

void sl_stack_retire(struct sl_stack *s, struct sl_conn *c, int err)
{
    struct sl_tcp_out *out = sl_out_reset(s);
    c->tcb.err = (int16_t)err;
    c->tcb.state = SL_TCP_CLOSED;
    out->events |= SL_TEV_ERROR | SL_TEV_CLOSED;
    sl_conn_after(s, c);
}

void sl_stack_evict(struct sl_stack *s, struct sl_conn *c)
{
    sl_table_remove(s, c);
    sl_heap_update(s, c, 0);
    c->sflags |= SL_CF_DEAD | SL_CF_APP_CLOSED;
    c->ev |= SL_EV_EVICTED;
    sl_conn_release(s, c); /* SL_EV_CLOSED | SL_EV_EVICTED, then freed */
}

void sl_stack_discard(struct sl_stack *s, struct sl_conn *c)
{
    c->sflags |= SL_CF_DEAD | SL_CF_APP_CLOSED;
    sl_conn_release(s, c);
}

void sl_stack_refuse(struct sl_stack *s, struct sl_conn *c)
{
    sl_tcp_abort(&c->tcb, s->now, sl_out_reset(s));
    sl_conn_after(s, c);
}

void sl_stack_reset_restored(struct sl_stack *s, struct sl_conn *c)
{
    sl_table_insert(s, c);
    c->sflags |= SL_CF_ACCEPTED;
    sl_tcp_abort(&c->tcb, s->now, sl_out_reset(s));
    sl_conn_after(s, c);
    sl_persist_mark(s, c); /* the CLOSED state deletes the record */
    sl_conn_release(s, c);
}

/* ---------------- TCP demultiplexing ---------------- */

struct sl_listener *sl_find_listener(struct sl_stack *s, uint16_t port)
{
    for (unsigned i = 0; i < SL_MAX_LISTENERS; i++)
        if (s->listeners[i] && s->listeners[i]->port == port)
            return s->listeners[i];
    return NULL;
}

static void send_replies(struct sl_stack *s, uint32_t saddr, const struct sl_tcp_seg *seg)
{
    for (unsigned i = 0; i < s->out.n; i++)
        sl_netif_tx_reply(s, saddr, seg, &s->out.seg[i]);
    s->out.n = 0;
}

void sl_stack_tcp_rx(struct sl_stack *s, uint32_t saddr, uint32_t daddr,
                     const struct sl_tcp_seg *seg)
{
    if (seg->sport == 0 || seg->dport == 0) {
        SCTR(s, drop_tcp_bad_port);
        return;
    }
    struct sl_conn *c = sl_table_find(s, saddr, seg->sport, seg->dport);
    if (c && c->tcb.state == SL_TCP_TIME_WAIT && sl_tcp_tw_accept_syn(&c->tcb, seg)) {
        SCTR(s, tcp_timewait_reused);
        struct sl_tcp_out *out = sl_out_reset(s);
        c->tcb.state = SL_TCP_CLOSED;
        out->events |= SL_TEV_CLOSED;
        sl_conn_after(s, c);
        c = NULL;
    }
    struct sl_tcp_out *out = sl_out_reset(s);
    if (c && s->rx_route.type && !c->tcb.route_app)
        sl_conn_set_route(c, &s->rx_route, 0); /* RFC 9293 3.9.2.1 MUST-53 */
    if (c) {
        if (!c->snd && c->tcb.state == SL_TCP_SYN_RCVD && (seg->flags & SL_TCP_ACK) &&
            !(seg->flags & (SL_TCP_RST | SL_TCP_SYN))) {
            /* the handshake may complete: the connection needs its rings */
            if ((s->max_buf_bytes && s->buf_bytes + s->tcfg.sndbuf + s->tcfg.rcvbuf >
                                         s->max_buf_bytes) ||
                conn_rings(s, c) < 0) {
                if (s->max_buf_bytes)
                    SCTR(s, drop_tcp_nomem);
                return; /* the peer retransmits its ACK or data */
            }
        }
        struct sl_tcp_bufs b = {c->snd, c->rcv};
        sl_tcp_input(&c->tcb, &b, s->now, seg, out);
        /* RFC 9293 3.10.7.4 MUST-59: every queued segment of the burst is
         * processed before any ACK goes out; the ACK (with SACK blocks for
         * whatever arrived out of order) is sent once, from process_dirty.
         * RFC 5681 4.2's immediate duplicate ACK is thus one per burst:
         * SACK-based loss detection (RFC 6675 IsLost, RACK) counts SACKed
         * bytes, not ACKs (tests/sim/sim_transfer.c: recovery as good or
         * better than with one ACK per out-of-order segment). */
        sl_conn_after(s, c);
        if (c->tcb.flags & SL_TF_ACK_NOW || c->snd)
            sl_conn_mark_dirty(s, c);
        return;
    }
    struct sl_listener *l = sl_find_listener(s, seg->dport);
    if (!sl_netif_routable(s, saddr)) {
        SCTR(s, drop_ip_no_route); /* no way to answer: keep no state for it */
        return;
    }
    /* A flow we do not hold may live in the store (a restart, a move):
     * look before answering with a RST (never for a RST or a bare SYN). */
    if (l && l->durability && !(seg->flags & SL_TCP_RST) &&
        (seg->flags & (SL_TCP_SYN | SL_TCP_ACK)) != SL_TCP_SYN) {
        int r = sl_persist_lookup(s, l, saddr, seg->sport, &c);
        if (r > 0) {
            sl_stack_tcp_rx(s, saddr, daddr, seg);
            return;
        }
        if (r < 0) {
            SCTR(s, drop_tcp_flow_elsewhere);
            return;
        }
    }
    if (!l) {
        enum sl_ctr r = sl_tcp_closed_reply(seg, out);
        s->ctr[r]++;
        send_replies(s, saddr, seg);
        return;
    }
    /* A bare ACK to a listener may complete a SYN-cookie handshake: ours,
     * or, with the fleet secret, one another instance of the fleet sent. */
    if ((seg->flags & (SL_TCP_ACK | SL_TCP_SYN | SL_TCP_RST)) == SL_TCP_ACK &&
        ((l->cookie_sent_us && s->now - l->cookie_sent_us < 128000000u) ||
         (s->fleet_keyed && l->syncookies))) {
        uint16_t mss;
        if (sl_tcp_cookie_check(s->cookie_key, daddr, seg->dport, saddr, seg->sport, seg->ack - 1,
                                s->now, &mss)) {
            c = sl_conn_new(s, 1);
            if (!c) { /* counted; refuse cleanly: the peer thinks it is open */
                sl_tcp_closed_reply(seg, out);
                send_replies(s, saddr, seg);
                return;
            }
            SCTR(s, tcp_syncookies_ok);
            struct sl_tcp_bufs b = {c->snd, c->rcv};
            sl_tcp_cookie_open(&c->tcb, &s->tcfg, s->now, daddr, saddr, seg, mss, &b, out);
            sl_persist_attach(s, c, l);
            c->listener = l;
            l->pending++;
            sl_table_insert(s, c);
            sl_conn_after(s, c);
            sl_conn_mark_dirty(s, c);
            return;
        }
        SCTR(s, drop_tcp_syncookie_bad); /* then answered like any stray ACK */
    }
    enum sl_ctr r = sl_tcp_listen_check(seg, out);
    if (r) {
        s->ctr[r]++;
        send_replies(s, saddr, seg);
        return;
    }
    /* Resource limits (connections, ring memory): refuse cleanly with a
     * RST, so the client sees "connection refused" at once; the
     * connections we hold keep working. */
    if (!conn_admit(s)) {
        sl_tcp_closed_reply(seg, out);
        send_replies(s, saddr, seg);
        return;
    }
    if (l->pending >= l->backlog) {
        if (!l->syncookies) {
            SCTR(s, drop_tcp_backlog_full);
            return;
        }
        /* RFC 4987 3.6: answer without keeping state. */
        uint32_t cookie = sl_tcp_cookie_make(s->cookie_key, daddr, seg->dport, saddr, seg->sport,
                                             seg->opts.has_mss ? seg->opts.mss : 536, s->now);
        sl_tcp_cookie_synack(&s->tcfg, s->now, daddr, saddr, seg, cookie, out);
        l->cookie_sent_us = s->now;
        SCTR(s, tcp_syncookies_sent);
        send_replies(s, saddr, seg);
        return;
    }
    /* Half-open: only the control block; the rings come with the ACK
     * that completes the handshake, so a SYN flood costs no buffers. */
    c = sl_conn_new(s, 0);
    if (!c)
        return; /* counted: drop_tcp_nomem (malloc) */
    uint32_t iss = sl_tcp_isn(s->isn_key, daddr, seg->dport, saddr, seg->sport, s->now);
    sl_tcp_open_passive(&c->tcb, &s->tcfg, s->now, daddr, saddr, seg, iss,
                        randombytes_random(), out);
    if (s->rx_route.type)
        sl_conn_set_route(c, &s->rx_route, 0); /* the SYN-ACK goes back the same way */
    sl_persist_attach(s, c, l);
    c->listener = l;
    l->pending++;
    sl_table_insert(s, c);
    sl_conn_after(s, c);
}

/* RFC 9293 3.9.2.2 MUST-54, SHLD-25: an ICMP error (other than
 * fragmentation needed) goes to the connection that caused it, after the
 * RFC 5927 4.1 sequence check, is recorded as a soft error and reported to
 * the application (MUST-47). The connection goes on (RFC 5927 4.2: no
 * abort on hard errors an attacker could forge). */
/* The connection an ICMP error's quoted TCP header names: our own segment
 * (RFC 5927 4.1: the quoted source is our address) of a connection we
 * have. NULL (counted as `miss`) otherwise. */
static struct sl_conn *icmp_conn(struct sl_stack *s, const struct sl_icmp *ic, enum sl_ctr miss)
{
    struct sl_conn *c = NULL;
    if (ic->inner_ok && ic->inner_proto == SL_IPPROTO_TCP && ic->inner_src == s->addr)
        c = sl_table_find(s, ic->inner_dst, ic->inner_dport, ic->inner_sport);
    if (!c)
        s->ctr[miss]++;
    return c;
}

void sl_stack_icmp_error(struct sl_stack *s, const struct sl_icmp *ic)
{
    struct sl_conn *c = icmp_conn(s, ic, SL_CTR_drop_icmp_err_no_conn);
    if (!c)
        return;
    enum sl_ctr r = sl_tcp_icmp_error(&c->tcb, ic->inner_seq);
    if (r) {
        s->ctr[r]++;
        return;
    }
    int err = -EPROTO;
    if (ic->type == SL_ICMP_DEST_UNREACH) {
        switch (ic->code) {
        case 0: case 6: case 9: case 11: err = -ENETUNREACH; break;
        case 3: err = -ECONNREFUSED; break;
        case 2: err = -EPROTO; break;
        default: err = -EHOSTUNREACH; break;
        }
    } else if (ic->type == SL_ICMP_TIME_EXCEEDED) {
        err = -EHOSTDOWN;
    }
    SCTR(s, icmp_soft_error);
    c->soft_err = (int16_t)err;
    sl_conn_wake(s, c, SL_EV_SOFTERR);
}

void sl_conn_set_route(struct sl_conn *c, const struct sl_srcroute *r, int app)
{
    struct sl_stack *s = c->stack;
    c->tcb.route = *r;
    c->tcb.route_app = (uint8_t)(app != 0);
    if (!r->type)
        return;
    if (!app)
        SCTR(s, ip_srcroute_rx);
    /* RFC 9293 3.7.1 MUST-16: the option comes out of every segment's room */
    uint16_t pm = (uint16_t)(s->mtu - 40 - sl_srcroute_optlen(r));
    struct sl_tcb *t = &c->tcb;
    if (!t->path_mss || pm < t->path_mss)
        t->path_mss = pm;
    uint16_t cap = (uint16_t)(t->path_mss - ((t->flags & SL_TF_TS_OK) ? 12 : 0));
    if (t->snd_mss > cap)
        t->snd_mss = cap;
    t->flags &= ~(uint32_t)SL_TF_GSO; /* no super-segments with IP options */
}

void sl_stack_icmp_ptb(struct sl_stack *s, const struct sl_icmp *ic)
{
    struct sl_conn *c = icmp_conn(s, ic, SL_CTR_drop_icmp_ptb_no_conn);
    if (!c)
        return;
    s->ctr[sl_tcp_icmp_ptb(&c->tcb, ic->inner_seq, ic->mtu)]++;
}

/* ---------------- event loop step ---------------- */

static void process_dirty(struct sl_stack *s)
{
    while (s->dirty_head) {
        struct sl_conn *c = s->dirty_head;
        s->dirty_head = c->next_dirty;
        c->sflags &= (uint8_t)~SL_CF_DIRTY;
        if (c->sflags & SL_CF_DEAD)
            continue;
        struct sl_tcp_bufs b = {c->snd, c->rcv};
        sl_tcp_output(&c->tcb, &b, s->now, sl_out_reset(s));
        sl_conn_after(s, c);
    }
}

static void deliver(struct sl_stack *s)
{
    for (unsigned i = 0; i < s->n_notify; i++) {
        struct sl_listener *l = s->notify_list[i];
        l->notify = false;
        if (l->cb && l->acc_head)
            l->cb(l, l->user);
    }
    s->n_notify = 0;
    while (s->pending_head) {
        struct sl_conn *c = s->pending_head;
        s->pending_head = c->next_pending;
        c->sflags &= (uint8_t)~SL_CF_PENDING;
        if (c->sflags & SL_CF_APP_CLOSED) {
            if (c->sflags & SL_CF_DEAD) {
                if (c->cb)
                    c->cb(c, SL_EV_CLOSED | (c->ev & SL_EV_EVICTED), c->user);
                conn_free(s, c);
            }
            continue;
        }
        if (!(c->sflags & SL_CF_ACCEPTED) || !c->cb)
            continue; /* delivered when the application takes it */
        unsigned ev = c->ev;
        c->ev = 0;
        if (ev)
            c->cb(c, ev, c->user);
    }
}

#define SL_RX_BURST 64
#define SL_RX_PER_STEP 1024u
#define SL_TIMERS_PER_STEP 256u
#define SL_TIMER_HOLD_US 5000u

static int step(struct sl_stack *s)
{
    int work = 0;
    s->now = s->clock(s->clock_arg);
    /* Read what has arrived, in bursts, up to SL_RX_PER_STEP frames: a
     * backlog (after the process was off the CPU) is drained in few
     * iterations, and its ACKs are seen before the timers run. */
    struct sl_frame fr[SL_RX_BURST];
    int drained = 0;
    for (unsigned got = 0; got < SL_RX_PER_STEP;) {
        int n = s->io->ops->rx_burst(s->io, fr, SL_RX_BURST);
        for (int i = 0; i < n; i++)
            sl_netif_rx(s, &fr[i]);
        if (n > 0) {
            s->io->ops->rx_release(s->io);
            work = 1;
        }
        if (n < SL_RX_BURST) {
            drained = 1;
            break;
        }
        got += (unsigned)n;
    }
    struct sl_conn *c;
    /* Timers wait (SL_TIMER_HOLD_US at most) while frames are still
     * waiting in the ring: the ACK that would stop a retransmission may
     * be among them. Bounded: thousands of timers due at once (a burst of
     * connections opened together) are spread over iterations, so that
     * the receive ring is read in between. */
    unsigned guard = 0;
    if (drained || s->now - s->timers_at >= SL_TIMER_HOLD_US) {
        s->timers_at = s->now;
        guard = s->heap_len < SL_TIMERS_PER_STEP ? s->heap_len + 1 : SL_TIMERS_PER_STEP;
    }
    while (guard-- && (c = sl_heap_top(s)) && c->deadline <= s->now) {
        struct sl_tcp_bufs b = {c->snd, c->rcv};
        sl_tcp_timers(&c->tcb, &b, s->now, sl_out_reset(s));
        sl_conn_after(s, c);
        work = 1;
    }
    for (int round = 0; round < 4 && (s->dirty_head || s->pending_head || s->n_notify); round++) {
        process_dirty(s);
        deliver(s);
        work = 1;
    }
    process_dirty(s);
    if (s->persist) {
        work |= sl_persist_flush(s); /* group commit, then (sync) the held output */
        sl_persist_evict(s);
        sl_persist_retry(s); /* restores that failed, with backoff */
    }
    else
        s->io->ops->tx_flush(s->io);
    return work;
}

int sl_stack_wait_ms(struct sl_stack *s, int cap)
{
    struct sl_conn *top = sl_heap_top(s);
    int wait = cap;
    if (top) {
        uint64_t now = s->clock(s->clock_arg);
        int64_t d = top->deadline > now ? (int64_t)((top->deadline - now + 999) / 1000) : 0;
        if (wait < 0 || d < wait)
            wait = d > INT32_MAX ? INT32_MAX : (int)d;
    }
    if (sl_persist_busy(s) && (wait < 0 || wait > 10))
        wait = 10; /* the store is away: retry the held batch soon */
    return wait;
}

int sl_stack_step(struct sl_stack *s, int timeout_ms)
{
    if (step(s) || timeout_ms == 0)
        return 0;
    int fd = s->io->ops->poll_fd(s->io);
    int wait = sl_stack_wait_ms(s, timeout_ms);
    if (wait != 0) {
        if (fd >= 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            poll(&p, 1, wait);
        } else if (s->clock == sl_clock_default) {
            struct timespec ts = {0, 100000}; /* no fd: back off 100 us */
            nanosleep(&ts, NULL);
        }
    }
    step(s);
    return 0;
}
