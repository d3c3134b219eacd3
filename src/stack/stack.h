/* Stack layer: connection table, timer heap, event loop, ARP/IP/ICMP.
 * Calls down into wire/, tcp/ and io/; called by api/. */
#ifndef SL_STACK_H
#define SL_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/ctr.h"
#include "io/io.h"
#include "sltcp/sltcp.h"
#include "tcp/tcp.h"
#include "wire/wire.h"

/* sl_conn.sflags */
#define SL_CF_APP_CLOSED 0x01  /* handle released by the application */
#define SL_CF_ACCEPTED 0x02    /* handed to the application */
#define SL_CF_IN_TABLE 0x04    /* present in the 4-tuple table */
#define SL_CF_PENDING 0x08     /* on the event-delivery list */
#define SL_CF_DIRTY 0x10       /* needs sl_tcp_output */
#define SL_CF_IN_ACCEPTQ 0x20
#define SL_CF_DEAD 0x40        /* reached CLOSED; free once the app let go */

struct sl_conn {
    struct sl_tcb tcb;          /* the whole protocol state, with what the app set: a value */
    struct sl_stack *stack;
    uint8_t *snd, *rcv;         /* rings; NULL in TIME-WAIT */
    sl_conn_cb cb;
    void *user;
    struct sl_listener *listener; /* passive opens, until accepted */
    struct sl_conn *next_pending, *next_dirty, *next_accept;
    uint64_t deadline;          /* key in the timer heap, 0 = not queued */
    uint32_t heap_idx;
    unsigned ev;                /* SL_EV_* waiting to be delivered */
    uint8_t sflags;
    int16_t soft_err;           /* last soft error, SL_EV_SOFTERR */
    struct sl_pconn *p;         /* persistence state; NULL when not durable */
    struct sl_conn *all_prev, *all_next; /* every connection of the stack */
    struct sl_conn *tw_prev, *tw_next; /* TIME-WAIT list, oldest first */
    uint8_t on_tw;
};

struct sl_listener {
    struct sl_stack *stack;
    uint16_t port;
    uint32_t backlog, pending; /* pending = half-open + not yet accepted */
    sl_listen_cb cb;
    void *user;
    struct sl_conn *acc_head, *acc_tail;
    bool notify;
    bool syncookies;
    uint64_t cookie_sent_us; /* last SYN cookie sent; ACKs are checked for 128 s */
    uint8_t durability;      /* enum sl_durability */
    bool commit;
    ssize_t (*ref_read)(void *user, const char *object, uint64_t off, void *buf, size_t len);
    void (*on_restore)(sl_conn *c, const void *blob, size_t len, void *user);
    uint32_t evict_idle_ms;
};

#define SL_ARP_SLOTS 256
struct sl_arp_entry {
    uint32_t ip;
    uint8_t mac[6];
    uint8_t valid;
    uint64_t req_sent; /* last request, us */
};

#define SL_MAX_LISTENERS 16
#define SL_ARP_QUEUE 32

struct sl_stack {
    struct sl_io *io;
    uint8_t mac[6];
    uint32_t addr, netmask, gateway;
    uint32_t mtu;
    struct sl_tcp_cfg tcfg;
    uint8_t isn_key[16];
    uint8_t cookie_key[16]; /* SYN cookies (RFC 4987 3.6) */
    bool fleet_keyed; /* keys from the fleet secret: peers' cookies are ours */
    uint32_t max_conns, nconns;
    uint64_t max_buf_bytes, buf_bytes; /* ring memory budget and use */
    uint16_t ip_id;
    uint8_t ttl, tos;
    uint16_t next_port;

    /* 4-tuple table: open addressing, linear probing, backward-shift delete */
    struct sl_conn **table;
    uint32_t table_mask;
    uint8_t table_key[16]; /* SipHash key of the table (common/hash.h) */
    /* timer heap: min-heap on conn->deadline */
    struct sl_conn **heap;
    uint32_t heap_len, heap_cap;

    struct sl_listener *listeners[SL_MAX_LISTENERS];
    struct sl_conn *pending_head, *dirty_head;
    struct sl_listener *notify_list[SL_MAX_LISTENERS];
    unsigned n_notify;

    struct sl_arp_entry arp[SL_ARP_SLOTS];
    struct { uint32_t nh; uint32_t len; uint8_t *buf; struct sl_tx_meta meta; uint8_t has_meta; }
        arpq[SL_ARP_QUEUE];
    unsigned arpq_len;

    /* free rings, reused to avoid mmap/munmap per connection */
    uint8_t **free_snd, **free_rcv;
    uint32_t n_free_snd, n_free_rcv, free_cap;

    uint64_t now;
    uint64_t timers_at; /* when the timers last ran (stack.c:step) */
    sl_clock_fn clock; /* sl_clock_us by default; simulations pass a virtual one */
    void *clock_arg;
    uint64_t ctr[SL_CTR__COUNT];
    struct sl_tcp_out out; /* scratch, reused for every engine call */
    struct sl_persist *persist; /* NULL without a store */
    struct sl_conn *all_head;   /* every connection, for teardown */
    /* TIME-WAIT connections (control block only): not counted against
     * max_conns; at most max_conns of them, the oldest recycled first */
    struct sl_conn *tw_head, *tw_tail;
    uint32_t n_tw;
    struct sl_srcroute rx_route; /* return route of the datagram being processed */
};

/* conn_table.c */
int sl_table_init(struct sl_stack *s, uint32_t max_conns);
void sl_table_free(struct sl_stack *s);
struct sl_conn *sl_table_find(struct sl_stack *s, uint32_t raddr, uint16_t rport, uint16_t lport);
void sl_table_insert(struct sl_stack *s, struct sl_conn *c);
void sl_table_remove(struct sl_stack *s, struct sl_conn *c);
void sl_heap_update(struct sl_stack *s, struct sl_conn *c, uint64_t deadline);
struct sl_conn *sl_heap_top(struct sl_stack *s);

/* netif.c */
void sl_netif_rx(struct sl_stack *s, const struct sl_frame *f);
/* 1 if addr can be no peer's unicast address: 0, broadcast, multicast,
 * loopback, the subnet broadcast (RFC 1122 3.2.1.3, RFC 9293 MUST-46). */
int sl_netif_bad_addr(const struct sl_stack *s, uint32_t addr);
/* 1 if replies to addr have a next hop (on-link, or a gateway). */
int sl_netif_routable(const struct sl_stack *s, uint32_t dst);
/* Builds and queues an IPv4/TCP frame for one engine emit of `c` (or, with
 * c == NULL, a reply to `seg` from raddr/rport to lport). */
void sl_netif_tx_tcp(struct sl_stack *s, const struct sl_tcb *t, const uint8_t *snd,
                     const struct sl_tcp_emit *e, uint8_t tos, const struct sl_srcroute *route);
/* Gives c a source route (RFC 9293 3.9.2.1): every segment goes through
 * it; the MSS shrinks by the option (MUST-16) and super-segments stop. */
void sl_conn_set_route(struct sl_conn *c, const struct sl_srcroute *r, int app);
/* RFC 9293 MUST-20 negative advice: forget the neighbour entry of the next
 * hop towards dst, so that the next frame resolves it again. */
void sl_netif_arp_forget(struct sl_stack *s, uint32_t dst);
void sl_netif_tx_reply(struct sl_stack *s, uint32_t raddr, const struct sl_tcp_seg *seg,
                       const struct sl_tcp_emit *e);

/* stack.c */
void sl_stack_tcp_rx(struct sl_stack *s, uint32_t saddr, uint32_t daddr,
                     const struct sl_tcp_seg *seg);
void sl_stack_icmp_ptb(struct sl_stack *s, const struct sl_icmp *ic);
void sl_stack_icmp_error(struct sl_stack *s, const struct sl_icmp *ic);
/* After any engine call on c: transmit s->out, record events, reschedule. */
void sl_conn_after(struct sl_stack *s, struct sl_conn *c);
void sl_conn_mark_dirty(struct sl_stack *s, struct sl_conn *c);
void sl_conn_release(struct sl_stack *s, struct sl_conn *c);
/* Queue events for delivery on the next loop step. */
void sl_conn_wake(struct sl_stack *s, struct sl_conn *c, unsigned ev);
struct sl_tcp_out *sl_out_reset(struct sl_stack *s);
uint64_t sl_clock_default(void *arg);
#define SL_NOW(s) ((s)->clock((s)->clock_arg))
/* A new connection (counted refusal and NULL if over a limit); with rings
 * = 0 it has only a control block (half-open). */
struct sl_conn *sl_conn_new(struct sl_stack *s, int rings);
void sl_ring_pool_free(struct sl_stack *s);
/* Assembly and teardown. The configuration checks sl_stack_create makes
 * before opening a device: 0 or -errno with a reason in err. */
int sl_stack_check_cfg(const struct sl_config *cfg, char *err, size_t errlen);
/* Creates a stack over an already open backend; takes ownership of io.
 * clock NULL: cfg->clock_us, or the monotonic clock without one. */
int sl_stack_create_io(const struct sl_config *cfg, struct sl_io *io, sl_clock_fn clock,
                       void *clock_arg, struct sl_stack **out, char *err, size_t errlen);

/* ---- calls from persistence (src/stack/persist*.c): the only ways it
 * changes a connection's stack fields (docs/architecture.md) ---- */
enum sl_adopt {
    SL_ADOPT_ACCEPT,    /* established: on l's accept queue */
    SL_ADOPT_HALF_OPEN, /* SYN-RECEIVED: counted as pending on l */
    SL_ADOPT_ORPHAN,    /* the application had released it: finishes its close */
};
/* A connection rebuilt from the store joins the stack and sends what is
 * due at once (retransmission from SND.UNA, a window update). */
void sl_stack_adopt(struct sl_stack *s, struct sl_listener *l, struct sl_conn *c,
                    enum sl_adopt how);
/* The connection is no longer ours (a newer owner took it): it closes
 * with err, silently (no segment), and the application hears of it. */
void sl_stack_retire(struct sl_stack *s, struct sl_conn *c, int err);
/* An idle connection leaves memory (its record stays): SL_EV_EVICTED. */
void sl_stack_evict(struct sl_stack *s, struct sl_conn *c);
/* A connection being rebuilt that will not be used: freed, no events. */
void sl_stack_discard(struct sl_stack *s, struct sl_conn *c);
/* A new connection the store cannot take: reset (the peer hears RST). */
void sl_stack_refuse(struct sl_stack *s, struct sl_conn *c);
/* A connection being rebuilt that cannot go on without a wrong byte (its
 * object is gone): reset, the peer hears RST, and its record is deleted. */
void sl_stack_reset_restored(struct sl_stack *s, struct sl_conn *c);
/* Drains the store (last state of every flow), frees everything, closes
 * the device. */
void sl_stack_free(struct sl_stack *s);
struct sl_listener *sl_find_listener(struct sl_stack *s, uint16_t port);
/* Tests: the process "dies" here. Nothing more is written to the store,
 * held frames are lost, memory is freed, and the device is handed back
 * (*io) so a new stack can take it over, as a restarted process would. */
void sl_stack_crash(struct sl_stack *s, struct sl_io **io);
/* One event-loop iteration (see sl_run). */
int sl_stack_step(struct sl_stack *s, int timeout_ms);
/* How long the loop may wait for packets: until the next timer, at most
 * cap ms (-1: no cap), at most 10 ms while the store is away. */
int sl_stack_wait_ms(struct sl_stack *s, int cap);

#define SCTR(s, name) ((s)->ctr[SL_CTR_##name]++)

#endif
