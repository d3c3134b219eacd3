// FUZZ_SOURCES: src/common/ctr.c src/wire/*.c src/tcp/*.c
// FUZZ_CFLAGS: -Isrc -Iinclude
// FUZZ_LIBS: -lsodium -lm
/* libFuzzer harness for the TCP engine (src/tcp). Build and run from the
 * repository root (fuzz/run.sh does this for every fuzz/fuzz_*.c):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *       -Isrc -Iinclude src/common/ctr.c src/wire/[a-z]*.c src/tcp/[a-z]*.c \
 *       fuzz/fuzz_tcp.c -lsodium -lm -o /tmp/fuzz_tcp
 *   /tmp/fuzz_tcp -max_total_time=600 fuzz/corpus/tcp
 *
 * FUZZ_TCP_TRACE=1 in the environment prints every operation, the segments
 * the engine emits and the TCB after each step (use it on a reproducer).
 *
 * The input is a program for one connection, read byte by byte (reads past
 * the end return 0):
 *
 *   header  cfg byte   bit0 active open (else passive), bit1 CUBIC, bit2 GSO,
 *                      bit3 no_sack, bit4 no_ts, bit5 no_ws, bit6 no_tlp,
 *                      bit7 NODELAY from the start
 *           buf byte   bits0-2 sndbuf, bits3-5 rcvbuf (512 B .. 1 MiB),
 *                      bit6 MSS from the mss byte's high bits (536..3540),
 *                      bit7 passive open through a SYN cookie
 *           mss byte, iss (4 bytes), ts_offset (4 bytes), clock start (2 bytes)
 *           passive open: a SYN built by the segment decoder below; with a
 *           SYN cookie, then a delay byte and the cookie-bearing ACK (the
 *           connection is rebuilt by sl_tcp_cookie_open as src/stack does)
 *   ops     until the input ends (at most MAX_OPS): op byte % 16
 *     0-6   peer segment: flags, seq (relative to RCV.NXT / RCV.ADV / an
 *           out-of-order edge / absolute), ack (relative to SND.UNA /
 *           SND.NXT / SND.MAX / absolute), window, options (MSS, WS,
 *           SACK-perm, TS with PAWS-old or absolute values, up to 3 SACK
 *           blocks relative to SND.UNA / SND.MAX), payload 0..3000 bytes
 *           (rarely up to 64 KiB, like a GRO super-segment)
 *     7-9   clock step (0 us .. 10 min, small steps favoured, or exactly
 *           to / just before the next engine deadline), then sl_tcp_timers
 *     10    application write of N bytes      11  application read
 *     12    close (SHUT_WR)                     13  shutdown_rd / sl_close
 *     14    abort, or setopt: NODELAY, keepalive idle time, R2
 *     15    misc: ICMP fragmentation-needed, reopen after CLOSED
 *   After every engine call comes sl_tcp_output (unless CLOSED), as the
 *   stack does. A SYN arriving in CLOSED goes through sl_tcp_listen_check
 *   and reopens the connection passively; a TIME-WAIT connection is reused
 *   when sl_tcp_tw_accept_syn() says so (like src/stack/stack.c).
 *
 * Payload bytes are a function of their sequence number: the peer's byte at
 * seq s is peer_byte(s), ours is our_byte(s). Whatever overlaps, repeats or
 * arrives out of order, every byte the application reads must equal
 * peer_byte(its seq), must lie in a range the peer actually sent, and every
 * byte the engine asks the frame builder to send must equal our_byte(seq).
 *
 * Invariants are checked after every engine call (see check_tcb,
 * check_step, check_emitted); any violation prints the TCB and aborts.
 * docs/fuzzing.md lists them.
 *
 * Known engine findings can be skipped (to keep fuzzing past them) with
 * -DFUZZ_TCP_SKIP_KNOWN: see the KNOWN list below.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sltcp/sltcp.h"
#include "tcp/tcp.h"
#include "tcp/tcp_validate.h"
#include "wire/wire.h"

#define MAX_OPS 4000
#define LADDR 0x0a000001u
#define RADDR 0x0a000002u
#define LPORT 80
#define RPORT 40000
#define RING_MAX (1u << 20)
#define PAY_MAX 65536u
#define US 1ull
#define MS 1000ull
#define SEC 1000000ull

/* ---------------------------------------------------------------- */
/* Known findings: invariant names skipped under -DFUZZ_TCP_SKIP_KNOWN
 * (each is described in docs/fuzzing.md with its reproducer in
 * fuzz/crashes/). Empty when the engine has no open finding. */
#ifdef FUZZ_TCP_SKIP_KNOWN
static const char *const KNOWN[] = {
    /* F1 syn_no_effect and F2 window_shrunk_synack: fixed in 72e31c6; their
     * reproducers stay in fuzz/crashes/ as regression inputs */
    /* F3-F7 fixed in the engine (see docs/fuzzing.md); reproducers kept */
    NULL,
};
#else
static const char *const KNOWN[] = {NULL};
#endif

/* FUZZ_TCP_ONLY=<name> (environment): only that invariant aborts; for
 * minimizing one finding with -minimize_crash=1 without drifting to another. */
static const char *g_only;

static bool skipped(const char *name)
{
    if (g_only)
        return strcmp(g_only, name) != 0;
    for (unsigned i = 0; KNOWN[i]; i++)
        if (strcmp(KNOWN[i], name) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------- */
/* input reader */

struct rd {
    const uint8_t *p;
    size_t n;
};
static uint8_t u8(struct rd *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}
static uint16_t u16(struct rd *r)
{
    uint16_t v = u8(r);
    return (uint16_t)(v << 8 | u8(r));
}
static uint32_t u32(struct rd *r)
{
    uint32_t v = u16(r);
    return v << 16 | u16(r);
}

/* ---------------------------------------------------------------- */
/* stream patterns: a byte is a function of its sequence number */

static inline uint8_t peer_byte(uint32_t s) { return (uint8_t)((s * 0x9E3779B1u) >> 24); }
static inline uint8_t our_byte(uint32_t s) { return (uint8_t)(((s ^ 0x5bd1e995u) * 0x85EBCA6Bu) >> 24); }

/* ---------------------------------------------------------------- */
/* world */

static uint8_t g_snd[RING_MAX], g_rcv[RING_MAX];
static uint8_t g_pay[PAY_MAX + 16], g_buf[PAY_MAX + 16];
static uint64_t g_ctr[SL_CTR__COUNT];
static int g_trace = -1;

struct iv {
    uint32_t a, b;
};
#define MAX_IV 256
#define MAX_FINS 64

struct world {
    struct sl_tcb t;
    struct sl_tcp_cfg cfg;
    struct sl_tcp_bufs b;
    uint64_t now;
    struct sl_tcp_out out;
    unsigned op_no;
    const char *op;
    /* peer model */
    uint32_t peer_ts0;    /* peer TSval = now_ms + peer_ts0 */
    uint32_t peer_tsecr;  /* the last TSval we sent */
    uint16_t peer_wnd;    /* sticky window field */
    struct iv sent[MAX_IV]; /* peer data ranges ever sent (absolute seq) */
    unsigned n_sent;
    bool sent_overflow;
    uint32_t fins[MAX_FINS]; /* sequence numbers of FINs the peer sent */
    unsigned n_fins;
    bool fins_overflow;
    /* our model */
    bool have_edge;
    uint32_t max_edge;    /* largest right edge we advertised (ack + wnd) */
    bool have_tsval;
    uint32_t last_tsval;
    uint32_t app_read;    /* bytes the application read (this connection) */
};
static struct world W;

static void trace(const char *fmt, ...)
{
    if (g_trace <= 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static const char *fl_str(uint8_t f, char *b)
{
    const char *n = "FSRPAUEC";
    int k = 0;
    for (int i = 0; i < 8; i++)
        if (f & (1 << i))
            b[k++] = n[i];
    if (!k)
        b[k++] = '.';
    b[k] = 0;
    return b;
}

static void dump_tcb(const struct sl_tcb *t, const char *label)
{
    fprintf(stderr,
            "  %s: %s flags=%#x iss=%u snd_una=%u(+%u) snd_nxt=+%u snd_max=+%u snd_end=+%u "
            "snd_wnd=%u max_snd_wnd=%u wl1=%u wl2=%u\n"
            "    irs=%u rcv_read=%u(+%u) rcv_nxt=+%u rcv_adv=+%u last_ack_sent=+%u bufs=%u/%u "
            "mss snd=%u rcv=%u peer=%u ws=%u/%u\n"
            "    cwnd=%u ssthresh=%u recover=+%u high_rxt=+%u rxt_mark=+%u dupacks=%u backoff=%u "
            "rto=%u srtt=%u\n"
            "    t_rexmt=%llu t_delack=%llu t_keep=%llu ts_recent=%u ka=%u err=%d\n",
            label, sl_tcp_state_name(t->state), t->flags, t->iss, t->snd_una,
            t->snd_una - t->iss, t->snd_nxt - t->iss, t->snd_max - t->iss, t->snd_end - t->iss,
            t->snd_wnd, t->max_snd_wnd, t->snd_wl1, t->snd_wl2 - t->iss, t->irs, t->rcv_read,
            t->rcv_read - t->irs, t->rcv_nxt - t->irs, t->rcv_adv - t->irs,
            t->last_ack_sent - t->irs, t->snd_bufsz, t->rcv_bufsz, t->snd_mss, t->rcv_mss,
            t->peer_mss, t->snd_wscale, t->rcv_wscale, t->cwnd, t->ssthresh,
            t->recover - t->iss, t->high_rxt - t->iss, t->rxt_mark - t->iss, t->dupacks,
            t->backoff, t->rto, t->srtt, (unsigned long long)t->t_rexmt,
            (unsigned long long)t->t_delack, (unsigned long long)t->t_keep, t->ts_recent,
            t->ka_probes, t->err);
    fprintf(stderr, "    sacked[%u]:", t->n_sacked);
    for (unsigned i = 0; i < t->n_sacked && i < SL_TCP_MAX_SACK; i++)
        fprintf(stderr, " [+%u,+%u)", t->sacked[i].left - t->iss, t->sacked[i].right - t->iss);
    fprintf(stderr, "  ooo[%u]:", t->n_ooo);
    for (unsigned i = 0; i < t->n_ooo && i < SL_TCP_MAX_OOO; i++)
        fprintf(stderr, " [+%u,+%u)", t->ooo[i].left - t->irs, t->ooo[i].right - t->irs);
    fprintf(stderr, "\n");
}

static void dump_out(const struct sl_tcb *t, const struct sl_tcp_out *o)
{
    char fb[16];
    for (unsigned i = 0; i < o->n; i++) {
        const struct sl_tcp_emit *e = &o->seg[i];
        fprintf(stderr, "    > %-5s seq=+%u ack=+%u len=%u wnd=%u gso=%u", fl_str(e->flags, fb),
                e->seq - t->iss, e->ack - t->irs, e->len, e->wnd, e->gso);
        if (e->opts.has_ts)
            fprintf(stderr, " ts=%u/%u", e->opts.tsval, e->opts.tsecr);
        for (unsigned k = 0; k < e->opts.nsack && k < SL_TCP_MAX_SACK; k++)
            fprintf(stderr, " sack[+%u,+%u)", e->opts.sack[k].left - t->irs,
                    e->opts.sack[k].right - t->irs);
        fprintf(stderr, "\n");
    }
    if (o->events)
        fprintf(stderr, "    events=%#x\n", o->events);
}

static struct sl_tcb g_before; /* TCB before the current engine call */

#define INV(name, cond, ...)                                                                   \
    do {                                                                                       \
        if (!(cond) && !skipped(name))                                                         \
            fail(name, #cond, __LINE__, __VA_ARGS__);                                          \
    } while (0)

__attribute__((noreturn, format(printf, 4, 5))) static void fail(const char *name,
                                                                const char *expr, int line,
                                                                const char *fmt, ...)
{
    fprintf(stderr, "\nfuzz_tcp: INVARIANT %s violated (fuzz_tcp.c:%d): %s\n  ", name, line,
            expr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  op #%u (%s) at now=%llu\n", W.op_no, W.op ? W.op : "?",
            (unsigned long long)W.now);
    dump_tcb(&g_before, "before");
    dump_tcb(&W.t, "after ");
    dump_out(&W.t, &W.out);
    abort();
}

/* ---------------------------------------------------------------- */
/* peer data ranges */

static void sent_add(uint32_t a, uint32_t len)
{
    if (!len || W.sent_overflow)
        return;
    uint32_t b = a + len;
    for (bool merged = true; merged;) {
        merged = false;
        for (unsigned i = 0; i < W.n_sent; i++) {
            struct iv *v = &W.sent[i];
            if (sl_seq_le(v->a, b) && sl_seq_le(a, v->b)) {
                a = sl_seq_min(a, v->a);
                b = sl_seq_max(b, v->b);
                *v = W.sent[--W.n_sent];
                merged = true;
                break;
            }
        }
    }
    if (W.n_sent == MAX_IV) {
        W.sent_overflow = true;
        return;
    }
    W.sent[W.n_sent++] = (struct iv){a, b};
}

static bool sent_covers(uint32_t a, uint32_t b)
{
    if (W.sent_overflow)
        return true;
    uint32_t pos = a;
    while (sl_seq_lt(pos, b)) {
        unsigned i;
        for (i = 0; i < W.n_sent; i++)
            if (sl_seq_le(W.sent[i].a, pos) && sl_seq_lt(pos, W.sent[i].b))
                break;
        if (i == W.n_sent)
            return false;
        pos = W.sent[i].b;
    }
    return true;
}

static void fin_add(uint32_t s)
{
    for (unsigned i = 0; i < W.n_fins; i++)
        if (W.fins[i] == s)
            return;
    if (W.n_fins == MAX_FINS) {
        W.fins_overflow = true;
        return;
    }
    W.fins[W.n_fins++] = s;
}

static bool fin_sent_at(uint32_t s)
{
    if (W.fins_overflow)
        return true;
    for (unsigned i = 0; i < W.n_fins; i++)
        if (W.fins[i] == s)
            return true;
    return false;
}

static void model_reset(void)
{
    W.n_sent = 0;
    W.sent_overflow = false;
    W.n_fins = 0;
    W.fins_overflow = false;
    W.have_edge = false;
    W.have_tsval = false;
    W.app_read = 0;
}

/* ---------------------------------------------------------------- */
/* invariants */

static bool synced(uint8_t st) { return st >= SL_TCP_ESTABLISHED; }

static bool can_send_state(uint8_t st)
{
    return st == SL_TCP_ESTABLISHED || st == SL_TCP_CLOSE_WAIT || st == SL_TCP_FIN_WAIT_1 ||
           st == SL_TCP_CLOSING || st == SL_TCP_LAST_ACK;
}

/* RFC 9293 figure 5 (plus the edges 3.10.7 spells out): single transitions. */
static const uint16_t EDGES[SL_TCP__NSTATES] = {
    [SL_TCP_CLOSED] = 0,
    [SL_TCP_LISTEN] = 1u << SL_TCP_SYN_RCVD | 1u << SL_TCP_SYN_SENT | 1u << SL_TCP_CLOSED,
    [SL_TCP_SYN_SENT] = 1u << SL_TCP_SYN_RCVD | 1u << SL_TCP_ESTABLISHED | 1u << SL_TCP_CLOSED,
    [SL_TCP_SYN_RCVD] = 1u << SL_TCP_ESTABLISHED | 1u << SL_TCP_FIN_WAIT_1 |
                        1u << SL_TCP_CLOSE_WAIT | 1u << SL_TCP_CLOSED,
    [SL_TCP_ESTABLISHED] = 1u << SL_TCP_FIN_WAIT_1 | 1u << SL_TCP_CLOSE_WAIT | 1u << SL_TCP_CLOSED,
    [SL_TCP_FIN_WAIT_1] = 1u << SL_TCP_FIN_WAIT_2 | 1u << SL_TCP_CLOSING |
                          1u << SL_TCP_TIME_WAIT | 1u << SL_TCP_CLOSED,
    [SL_TCP_FIN_WAIT_2] = 1u << SL_TCP_TIME_WAIT | 1u << SL_TCP_CLOSED,
    [SL_TCP_CLOSE_WAIT] = 1u << SL_TCP_LAST_ACK | 1u << SL_TCP_CLOSED,
    [SL_TCP_CLOSING] = 1u << SL_TCP_TIME_WAIT | 1u << SL_TCP_CLOSED,
    [SL_TCP_LAST_ACK] = 1u << SL_TCP_CLOSED,
    [SL_TCP_TIME_WAIT] = 1u << SL_TCP_CLOSED,
};

/* One engine call may take several edges (a SYN-RECEIVED connection with a
 * queued FIN goes ESTABLISHED then FIN-WAIT-1 on one ACK; an ACK+FIN takes
 * FIN-WAIT-1 to TIME-WAIT): `to` must be reachable in at most 3 edges. */
static bool reachable(uint8_t from, uint8_t to)
{
    uint16_t set = (uint16_t)(1u << from);
    for (int k = 0; k < 3; k++) {
        uint16_t next = set;
        for (unsigned s = 0; s < SL_TCP__NSTATES; s++)
            if (set & (1u << s))
                next |= EDGES[s];
        set = next;
    }
    return (set >> to) & 1;
}

enum call { C_INPUT, C_OUTPUT, C_TIMERS, C_CLOSE, C_ABORT, C_APP, C_OPEN };
static const char *const CALL_NAME[] = {"input", "output", "timers", "close", "abort", "app",
                                        "open"};

static void check_tcb(void)
{
    const struct sl_tcb *t = &W.t;
    uint8_t st = t->state;
    INV("state_range", st < SL_TCP__NSTATES && st != SL_TCP_LISTEN, "state %u", st);

    /* timers */
    uint64_t d[3] = {t->t_rexmt, t->t_delack, t->t_keep};
    for (int i = 0; i < 3; i++)
        INV("timer_in_past", d[i] == 0 || d[i] >= W.now, "timer %d = %llu < now", i,
            (unsigned long long)d[i]);
    {
        uint64_t m = 0;
        for (int i = 0; i < 3; i++)
            if (d[i] && (!m || d[i] < m))
                m = d[i];
        INV("next_deadline", sl_tcp_next_deadline(t) == m, "next_deadline %llu != min %llu",
            (unsigned long long)sl_tcp_next_deadline(t), (unsigned long long)m);
    }
    if (st == SL_TCP_CLOSED) {
        INV("closed_timers", !t->t_rexmt && !t->t_delack && !t->t_keep, "CLOSED with a timer");
        return;
    }
    /* Whatever the engine makes of a passive connection, a restoring
     * instance would accept it (src/tcp/tcp_validate.c never refuses a
     * control block the engine can produce). */
    if ((t->flags & SL_TF_PASSIVE) && st >= SL_TCP_SYN_RCVD && st != SL_TCP_TIME_WAIT) {
        struct sl_tcp_restore_env env = {LADDR, 0xffffff00u, W.cfg.mss, W.cfg.sndbuf,
                                         W.cfg.rcvbuf, W.now};
        enum sl_ctr v = sl_tcp_validate_restored(t, &env);
        INV("restore_validates", v == SL_CTR_ok, "a live tcb is refused for restore: %s",
            sl_ctr_names[v]);
    }

    /* send sequence space */
    INV("snd_una_le_nxt", sl_seq_le(t->snd_una, t->snd_nxt), "snd_una > snd_nxt");
    INV("snd_nxt_le_max", sl_seq_le(t->snd_nxt, t->snd_max), "snd_nxt > snd_max");
    INV("snd_una_ge_iss", sl_seq_ge(t->snd_una, t->iss), "snd_una < iss");
    uint32_t data0 = t->iss + 1;
    INV("snd_end_ge_data0", sl_seq_ge(t->snd_end, data0), "snd_end < iss+1");
    uint32_t fin = (t->flags & SL_TF_FIN_QUEUED) ? 1 : 0;
    INV("snd_max_le_end", sl_seq_le(t->snd_max, t->snd_end + fin),
        "snd_max +%u beyond snd_end +%u (+FIN %u): sent bytes the app never wrote",
        t->snd_max - t->iss, t->snd_end - t->iss, fin);
    uint32_t ustart = sl_seq_max(t->snd_una, data0);
    if (sl_seq_le(ustart, t->snd_end))
        INV("snd_ring_bound", t->snd_end - ustart <= t->snd_bufsz,
            "%u unacked+unsent bytes > snd_bufsz %u", t->snd_end - ustart, t->snd_bufsz);
    else
        INV("snd_fin_acked_only", fin && t->snd_una == t->snd_end + 1,
            "snd_una beyond snd_end without an acked FIN");
    INV("snd_space", sl_tcp_send_space(t) <= t->snd_bufsz, "send_space > bufsz");
    INV("snd_mss_sane", t->snd_mss >= 32, "snd_mss %u", t->snd_mss);

    /* SACK scoreboard */
    INV("sacked_count", t->n_sacked <= SL_TCP_MAX_SACK, "n_sacked %u", t->n_sacked);
    for (unsigned i = 0; i < t->n_sacked && i < SL_TCP_MAX_SACK; i++) {
        const struct sl_sack_block *s = &t->sacked[i];
        INV("sacked_nonempty", sl_seq_lt(s->left, s->right), "sacked[%u] empty", i);
        INV("sacked_in_flight", sl_seq_ge(s->left, t->snd_una) && sl_seq_le(s->right, t->snd_max),
            "sacked[%u] [+%u,+%u) outside [snd_una +%u, snd_max +%u]", i, s->left - t->iss,
            s->right - t->iss, t->snd_una - t->iss, t->snd_max - t->iss);
        if (i)
            INV("sacked_sorted", sl_seq_lt(t->sacked[i - 1].right, s->left),
                "sacked[%u] overlaps/touches or precedes sacked[%u]", i, i - 1);
    }
    /* HighRxt may lag SND.UNA (it is raised lazily), never pass SND.MAX */
    INV("high_rxt_range", sl_seq_ge(t->high_rxt, t->iss) && sl_seq_le(t->high_rxt, t->snd_max),
        "high_rxt +%u outside [iss, snd_max]", t->high_rxt - t->iss);

    /* congestion control */
    if (synced(st) && (t->flags & (SL_TF_IN_RECOVERY | SL_TF_SACK_OK)) == SL_TF_IN_RECOVERY)
        INV("cwnd_ge_mss_newreno", t->cwnd >= t->snd_mss,
            "cwnd %u < snd_mss %u in NewReno recovery", t->cwnd, t->snd_mss);
    else if (synced(st))
        INV("cwnd_ge_mss", t->cwnd >= t->snd_mss, "cwnd %u < snd_mss %u", t->cwnd, t->snd_mss);
    if (synced(st) && t->ssthresh != UINT32_MAX)
        INV("ssthresh_ge_2mss", t->ssthresh >= 2u * t->snd_mss, "ssthresh %u < 2*snd_mss",
            t->ssthresh);
    INV("rto_range", t->rto >= SL_TCP_RTO_MIN_US && t->rto <= SL_TCP_RTO_MAX_US, "rto %u", t->rto);

    if (st == SL_TCP_SYN_SENT)
        return; /* nothing received yet */

    /* receive sequence space */
    uint32_t rfin = (t->flags & SL_TF_FIN_RCVD) ? 1 : 0;
    INV("rcv_read_le_nxt", sl_seq_le(t->rcv_read, t->rcv_nxt), "rcv_read > rcv_nxt");
    INV("rcv_ring_bound", t->rcv_nxt - t->rcv_read <= t->rcv_bufsz + rfin,
        "%u in-order bytes > rcv_bufsz %u", t->rcv_nxt - t->rcv_read, t->rcv_bufsz);
    INV("rcv_nxt_ge_irs", sl_seq_gt(t->rcv_nxt, t->irs) && sl_seq_gt(t->rcv_read, t->irs),
        "rcv_nxt/rcv_read not after IRS");
    INV("rcv_readable", sl_tcp_readable(t) == t->rcv_nxt - t->rcv_read - rfin, "readable");
    INV("rcv_adv_bound",
        sl_seq_le(t->rcv_adv, t->rcv_read + t->rcv_bufsz + (1u << t->rcv_wscale)) ||
            t->rcv_adv == t->rcv_nxt,
        "advertised edge +%u beyond the ring end +%u", t->rcv_adv - t->irs,
        t->rcv_read + t->rcv_bufsz - t->irs);
    /* the in-order bytes and every out-of-order range were sent by the peer */
    INV("rcv_data_was_sent", sent_covers(t->rcv_read, t->rcv_nxt - rfin),
        "in-order data [+%u,+%u) was never sent by the peer", t->rcv_read - t->irs,
        t->rcv_nxt - rfin - t->irs);
    if (rfin)
        INV("fin_was_sent", fin_sent_at(t->rcv_nxt - 1), "FIN at +%u never sent",
            t->rcv_nxt - 1 - t->irs);

    /* out-of-order ranges */
    INV("ooo_count", t->n_ooo <= SL_TCP_MAX_OOO, "n_ooo %u", t->n_ooo);
    INV("ooo_last", t->ooo_last <= t->n_ooo, "ooo_last %u > n_ooo %u", t->ooo_last, t->n_ooo);
    for (unsigned i = 0; i < t->n_ooo && i < SL_TCP_MAX_OOO; i++) {
        const struct sl_sack_block *o = &t->ooo[i];
        INV("ooo_nonempty", sl_seq_lt(o->left, o->right), "ooo[%u] empty", i);
        if (rfin && !sl_seq_gt(o->left, t->rcv_nxt))
            INV("ooo_after_fin", false,
                "ooo[%u] [+%u,+%u) kept beyond the accepted FIN (rcv_nxt +%u)", i,
                o->left - t->irs, o->right - t->irs, t->rcv_nxt - t->irs);
        else
            INV("ooo_above_rcv_nxt", sl_seq_gt(o->left, t->rcv_nxt),
            "ooo[%u] [+%u,+%u) not above rcv_nxt +%u", i, o->left - t->irs, o->right - t->irs,
            t->rcv_nxt - t->irs);
        INV("ooo_in_ring", sl_seq_le(o->right, t->rcv_read + t->rcv_bufsz),
            "ooo[%u] ends +%u beyond ring end +%u", i, o->right - t->irs,
            t->rcv_read + t->rcv_bufsz - t->irs);
        if (i)
            INV("ooo_sorted", sl_seq_lt(t->ooo[i - 1].right, o->left),
                "ooo[%u] overlaps/touches or precedes ooo[%u]", i, i - 1);
        INV("ooo_was_sent", sent_covers(o->left, o->right), "ooo[%u] [+%u,+%u) never sent", i,
            o->left - t->irs, o->right - t->irs);
    }
}

/* Every segment the engine asked for, checked against the TCB after the call. */
static void check_emitted(enum call c)
{
    const struct sl_tcb *t = &W.t, *b = &g_before;
    INV("out_count", W.out.n <= SL_TCP_OUT_MAX, "n %u", W.out.n);
    for (unsigned i = 0; i < W.out.n; i++) {
        const struct sl_tcp_emit *e = &W.out.seg[i];
        char fb[16];
        fl_str(e->flags, fb);
        INV("emit_after_closed", b->state != SL_TCP_CLOSED, "segment %u (%s) from a CLOSED tcb",
            i, fb);
        INV("emit_opts_fit", sl_tcp_opts_len(&e->opts) <= 40, "seg %u options %zu bytes", i,
            sl_tcp_opts_len(&e->opts));
        INV("emit_ip_len", 40u + sl_tcp_opts_len(&e->opts) + (uint64_t)e->len <= 65535u,
            "seg %u: %u payload bytes do not fit an IPv4 datagram", i, e->len);
        if (e->flags & SL_TCP_RST) {
            INV("rst_no_payload", e->len == 0, "RST with %u bytes", e->len);
            continue;
        }
        if (e->flags & SL_TCP_SYN) {
            INV("syn_seq", e->seq == t->iss && e->len == 0, "SYN seq +%u len %u",
                e->seq - t->iss, e->len);
            INV("syn_state", t->state == SL_TCP_SYN_SENT || t->state == SL_TCP_SYN_RCVD,
                "SYN emitted in %s", sl_tcp_state_name(t->state));
            INV("syn_ack_flag", !!(e->flags & SL_TCP_ACK) == (t->state == SL_TCP_SYN_RCVD),
                "SYN ACK flag in %s", sl_tcp_state_name(t->state));
        } else {
            INV("ack_flag", e->flags & SL_TCP_ACK, "non-SYN non-RST segment %s without ACK", fb);
        }
        if (e->opts.has_wscale || e->opts.sack_perm || e->opts.has_mss)
            INV("syn_only_opts", e->flags & SL_TCP_SYN, "MSS/WS/SACK-perm outside a SYN");
        /* TS on every non-RST segment once negotiated (RFC 7323 3.2), never otherwise */
        if (!(e->flags & SL_TCP_SYN) || (e->flags & SL_TCP_ACK))
            INV("ts_consistent", !!e->opts.has_ts == !!(t->flags & SL_TF_TS_OK),
                "TS option %d with TS_OK %d", e->opts.has_ts, !!(t->flags & SL_TF_TS_OK));
        if (e->opts.has_ts) {
            if (W.have_tsval)
                INV("tsval_monotonic", sl_seq_ge(e->opts.tsval, W.last_tsval),
                    "TSval %u < earlier %u", e->opts.tsval, W.last_tsval);
            W.have_tsval = true;
            W.last_tsval = e->opts.tsval;
            W.peer_tsecr = e->opts.tsval;
        }
        if (e->opts.nsack) {
            INV("sack_negotiated", t->flags & SL_TF_SACK_OK, "SACK blocks without SACK-perm");
            INV("sack_count", e->opts.nsack <= (e->opts.has_ts ? 3 : 4), "%u SACK blocks",
                e->opts.nsack);
            for (unsigned k = 0; k < e->opts.nsack && k < SL_TCP_MAX_SACK; k++) {
                const struct sl_sack_block *s = &e->opts.sack[k];
                if ((t->flags & SL_TF_FIN_RCVD) && !sl_seq_gt(s->left, e->ack))
                    INV("ooo_after_fin", false, "SACK block [+%u,+%u) at/below ack +%u after FIN",
                        s->left - t->irs, s->right - t->irs, e->ack - t->irs);
                else
                    INV("sack_block_sane", sl_seq_lt(s->left, s->right) &&
                                           sl_seq_gt(s->left, e->ack),
                    "SACK block [+%u,+%u) vs ack +%u", s->left - t->irs, s->right - t->irs,
                    e->ack - t->irs);
                INV("sack_block_sent", sent_covers(s->left, s->right),
                    "SACK block [+%u,+%u) covers data never received", s->left - t->irs,
                    s->right - t->irs);
            }
        }
        if (e->flags & SL_TCP_ACK) {
            uint32_t lo = synced(b->state) || b->state == SL_TCP_SYN_RCVD ? b->rcv_nxt : t->rcv_nxt;
            INV("ack_value", sl_seq_ge(e->ack, lo) && sl_seq_le(e->ack, t->rcv_nxt),
                "ack +%u outside [+%u, +%u]", e->ack - t->irs, lo - t->irs, t->rcv_nxt - t->irs);
            /* RFC 9293 3.8.6 / 7323 2.4: the advertised right edge never moves left */
            uint32_t edge = e->ack + ((e->flags & SL_TCP_SYN) ? e->wnd
                                                               : (uint32_t)e->wnd << t->rcv_wscale);
            if (W.have_edge && (e->flags & SL_TCP_SYN))
                INV("window_shrunk_synack", sl_seq_ge(edge, W.max_edge),
                    "SYN-ACK right edge +%u left of earlier +%u (wnd field %u)", edge - t->irs,
                    W.max_edge - t->irs, e->wnd);
            else if (W.have_edge) /* RFC 7323 2.4: less than 2^shift may be retracted */
                INV("window_shrunk", sl_seq_ge(edge + (1u << t->rcv_wscale) - 1u, W.max_edge),
                    "advertised right edge +%u left of earlier +%u (wnd field %u)",
                    edge - t->irs, W.max_edge - t->irs, e->wnd);
            /* (after a SYN-ACK, whatever it said is the new baseline, so that a
             * skipped window_shrunk_synack is not reported again later) */
            if (!W.have_edge || sl_seq_gt(edge, W.max_edge) || (e->flags & SL_TCP_SYN))
                W.max_edge = edge;
            W.have_edge = true;
        }
        /* payload: within the send ring's data, already accounted in snd_max */
        uint32_t end = e->seq + e->len;
        if (e->len) {
            INV("payload_state", can_send_state(t->state) || can_send_state(b->state),
                "payload in %s", sl_tcp_state_name(t->state));
            INV("payload_in_ring", sl_seq_ge(e->seq, t->snd_una) && sl_seq_le(end, t->snd_end) &&
                                       sl_seq_gt(e->seq, t->iss),
                "payload [+%u,+%u) outside [snd_una +%u, snd_end +%u)", e->seq - t->iss,
                end - t->iss, t->snd_una - t->iss, t->snd_end - t->iss);
            bool past = sl_seq_lt(e->seq, b->snd_max) && sl_seq_gt(end, t->snd_max);
            if (past)
                INV("rexmit_past_snd_max", false,
                    "retransmission [+%u,+%u) runs past snd_max +%u into never-sent data",
                    e->seq - t->iss, end - t->iss, t->snd_max - t->iss);
            else
                INV("payload_le_snd_max", sl_seq_le(end, t->snd_max),
                "payload [+%u,+%u) beyond snd_max +%u: bytes sent but not accounted as sent",
                e->seq - t->iss, end - t->iss, t->snd_max - t->iss);
            bool gso = e->gso && (t->flags & SL_TF_GSO) && e->gso == t->snd_mss;
            INV("payload_le_mss", e->len <= t->snd_mss || gso, "len %u > snd_mss %u (gso %u)",
                e->len, t->snd_mss, e->gso);
            /* new data never beyond the offered window (a 1-byte probe excepted) */
            if (sl_seq_gt(end, b->snd_max) && synced(b->state) && !past)
                INV("new_data_in_window",
                    sl_seq_le(end, t->snd_una + (t->snd_wnd ? t->snd_wnd : 1)),
                    "new data up to +%u beyond the peer's window edge +%u", end - t->iss,
                    t->snd_una + t->snd_wnd - t->iss);
            if (sl_seq_ge(e->seq, t->snd_una) && sl_seq_le(end, t->snd_end) && e->len <= PAY_MAX) {
                sl_tcp_copy_out(t, W.b.snd, e->seq, g_buf, e->len);
                for (uint32_t k = 0; k < e->len; k++)
                    INV("payload_bytes", g_buf[k] == our_byte(e->seq + k),
                        "send ring byte at +%u is wrong", e->seq + k - t->iss);
            }
        }
        if (e->flags & SL_TCP_FIN) {
            INV("fin_position", (t->flags & SL_TF_FIN_QUEUED) && end == t->snd_end,
                "FIN at +%u, snd_end +%u, FIN_QUEUED %d", end - t->iss, t->snd_end - t->iss,
                !!(t->flags & SL_TF_FIN_QUEUED));
            INV("fin_le_snd_max", sl_seq_le(end + 1, t->snd_max), "FIN beyond snd_max");
        }
    }
}

static void check_step(enum call c)
{
    const struct sl_tcb *t = &W.t, *b = &g_before;
    W.op = CALL_NAME[c];
    if (g_trace > 0) {
        fprintf(stderr, "  [%s] %s -> %s\n", CALL_NAME[c], sl_tcp_state_name(b->state),
                sl_tcp_state_name(t->state));
        dump_out(t, &W.out);
        if (g_trace > 1)
            dump_tcb(t, "tcb");
    }
    /* legal transitions */
    uint8_t f = b->state, to = t->state;
    switch (c) {
    case C_INPUT:
        INV("transition", reachable(f, to), "%s -> %s on input", sl_tcp_state_name(f),
            sl_tcp_state_name(to));
        break;
    case C_OUTPUT:
    case C_APP:
        INV("transition", f == to, "%s -> %s on %s", sl_tcp_state_name(f), sl_tcp_state_name(to),
            CALL_NAME[c]);
        break;
    case C_TIMERS:
        INV("transition", f == to || to == SL_TCP_CLOSED, "%s -> %s on timers",
            sl_tcp_state_name(f), sl_tcp_state_name(to));
        break;
    case C_CLOSE:
        INV("transition",
            f == to || (f == SL_TCP_SYN_SENT && to == SL_TCP_CLOSED) ||
                (f == SL_TCP_ESTABLISHED && to == SL_TCP_FIN_WAIT_1) ||
                (f == SL_TCP_CLOSE_WAIT && to == SL_TCP_LAST_ACK),
            "%s -> %s on close", sl_tcp_state_name(f), sl_tcp_state_name(to));
        break;
    case C_ABORT:
        INV("transition", to == SL_TCP_CLOSED, "%s -> %s on abort", sl_tcp_state_name(f),
            sl_tcp_state_name(to));
        break;
    case C_OPEN:
        break;
    }
    if (f != to && to == SL_TCP_CLOSED)
        INV("closed_event", W.out.events & SL_TEV_CLOSED, "CLOSED without SL_TEV_CLOSED");
    if (f != to && to == SL_TCP_ESTABLISHED)
        INV("connected_event", W.out.events & SL_TEV_CONNECTED, "no SL_TEV_CONNECTED");
    if (f == SL_TCP_CLOSED)
        INV("closed_stays_quiet", W.out.n == 0 && to == SL_TCP_CLOSED,
            "a CLOSED tcb emitted or changed state");

    /* monotonic fields (same connection) */
    if (c != C_OPEN && f != SL_TCP_CLOSED && to != SL_TCP_CLOSED) {
        INV("snd_una_monotonic", sl_seq_ge(t->snd_una, b->snd_una), "snd_una moved back");
        INV("snd_max_monotonic", sl_seq_ge(t->snd_max, b->snd_max), "snd_max moved back");
        if (c != C_APP)
            INV("snd_end_app_only", t->snd_end == b->snd_end, "snd_end changed by %s",
                CALL_NAME[c]);
        if (f != SL_TCP_SYN_SENT) {
            INV("rcv_nxt_monotonic", sl_seq_ge(t->rcv_nxt, b->rcv_nxt), "rcv_nxt moved back");
            INV("irs_fixed", t->irs == b->irs, "irs changed");
            if (c != C_APP)
                INV("rcv_read_app_only", t->rcv_read == b->rcv_read, "rcv_read changed by %s",
                    CALL_NAME[c]);
            if ((t->flags & SL_TF_TS_OK) && (b->flags & SL_TF_TS_OK))
                INV("ts_recent_monotonic", sl_seq_ge(t->ts_recent, b->ts_recent),
                    "ts_recent %u -> %u", b->ts_recent, t->ts_recent);
        }
        INV("iss_fixed", t->iss == b->iss, "iss changed");
    }
    check_emitted(c);
    check_tcb();
    if (c == C_TIMERS) {
        /* everything due has fired: the stack would spin otherwise */
        uint64_t d = sl_tcp_next_deadline(t);
        INV("timers_fired", d == 0 || d > W.now, "deadline %llu <= now after sl_tcp_timers",
            (unsigned long long)d);
    }
}

/* tcb.flags when the current operation started */
static uint32_t g_op_flags0;
static bool g_stall_persist; /* a stall_persist_exit episode is under way */

/* After the whole operation (op + output): liveness. */
static void check_live(void)
{
    const struct sl_tcb *t = &W.t;
    uint8_t st = t->state;
    if (t->t_rexmt || t->snd_una == t->snd_max || st == SL_TCP_CLOSED)
        g_stall_persist = false;
    if (st == SL_TCP_CLOSED || W.out.n >= SL_TCP_OUT_MAX)
        return;
    if (st == SL_TCP_SYN_SENT || st == SL_TCP_SYN_RCVD)
        INV("stall_syn", t->t_rexmt != 0, "%s without a SYN retransmit timer",
            sl_tcp_state_name(st));
    if (can_send_state(st) && t->snd_una != t->snd_max && !t->t_rexmt) {
        /* name the case where SACK blocks cover everything outstanding apart */
        uint32_t pos = t->snd_una;
        for (unsigned i = 0; i < t->n_sacked && i < SL_TCP_MAX_SACK; i++)
            if (sl_seq_le(t->sacked[i].left, pos) && sl_seq_gt(t->sacked[i].right, pos))
                pos = t->sacked[i].right;
        if ((g_op_flags0 & SL_TF_PERSIST) || g_stall_persist) {
            g_stall_persist = true; /* the same stall until a timer is armed again */
            INV("stall_persist_exit", false,
                "data outstanding (+%u..+%u), no t_rexmt after leaving persist mode",
                t->snd_una - t->iss, t->snd_max - t->iss);
        } else if (sl_seq_ge(pos, t->snd_max))
            INV("stall_rexmt_sacked", false,
                "data outstanding (+%u..+%u), all of it SACKed, and no t_rexmt",
                t->snd_una - t->iss, t->snd_max - t->iss);
        else
            INV("stall_rexmt", false, "data outstanding (+%u..+%u) and no t_rexmt",
                t->snd_una - t->iss, t->snd_max - t->iss);
    }
    if (can_send_state(st) && t->snd_una == t->snd_max) {
        bool unsent = sl_seq_lt(t->snd_nxt, t->snd_end) ||
                      ((t->flags & SL_TF_FIN_QUEUED) && sl_seq_le(t->snd_max, t->snd_end));
        INV("stall_unsent", !unsent || t->t_rexmt != 0,
            "unsent data/FIN, nothing in flight, and no timer will send it");
    }
    if (st == SL_TCP_TIME_WAIT)
        INV("stall_timewait", t->t_keep != 0, "TIME-WAIT without its 2MSL timer");
    if (synced(st) && st != SL_TCP_TIME_WAIT)
        INV("stall_ack", t->rcv_nxt == t->last_ack_sent || t->t_delack != 0 ||
                             (t->flags & SL_TF_ACK_NOW),
            "received data +%u..+%u never ACKed and no delayed-ACK timer",
            t->last_ack_sent - t->irs, t->rcv_nxt - t->irs);
}

/* ---------------------------------------------------------------- */
/* engine calls */

static void begin(void)
{
    g_before = W.t;
    W.out.n = 0;
    W.out.events = 0;
    W.out.ctr = g_ctr;
}

static void do_output(void)
{
    if (W.t.state == SL_TCP_CLOSED)
        return;
    begin();
    sl_tcp_output(&W.t, &W.b, W.now, &W.out);
    check_step(C_OUTPUT);
}

/* ---------------------------------------------------------------- */
/* segment decoder */

static const uint8_t FTAB[16] = {
    SL_TCP_ACK, SL_TCP_ACK, SL_TCP_ACK | SL_TCP_PSH, SL_TCP_ACK | SL_TCP_PSH,
    SL_TCP_ACK | SL_TCP_FIN, SL_TCP_ACK | SL_TCP_FIN | SL_TCP_PSH, SL_TCP_RST,
    SL_TCP_RST | SL_TCP_ACK, SL_TCP_SYN, SL_TCP_SYN | SL_TCP_ACK, SL_TCP_FIN, 0,
    SL_TCP_ACK | SL_TCP_URG, SL_TCP_ACK | SL_TCP_ECE | SL_TCP_CWR, SL_TCP_SYN | SL_TCP_FIN,
    0 /* raw */};
static const uint16_t LTAB[8] = {1, 536, 1448, 1460, 2896, 1000, 100, 3000};

static uint32_t peer_tsval(void) { return (uint32_t)(W.now / 1000) + W.peer_ts0; }

/* Builds a peer segment; payload bytes are peer_byte(seq of the byte). */
static void build_seg(struct rd *r, struct sl_tcp_seg *s, bool syn_only)
{
    const struct sl_tcb *t = &W.t;
    memset(s, 0, sizeof(*s));
    s->sport = RPORT;
    s->dport = LPORT;
    s->doff_bytes = 20;

    uint8_t fb = u8(r), c = u8(r);
    uint8_t flags = (fb & 15) == 15 ? u8(r) : FTAB[fb & 15];
    if (syn_only)
        flags = (uint8_t)((flags & ~(SL_TCP_ACK | SL_TCP_RST | SL_TCP_FIN)) | SL_TCP_SYN);
    s->flags = flags;

    /* sequence number */
    uint32_t seq;
    switch ((fb >> 4) & 7) {
    case 0: seq = t->rcv_nxt; break;
    case 1: seq = t->rcv_nxt + (uint32_t)(int32_t)(int8_t)u8(r); break;
    case 2: seq = t->rcv_nxt + u16(r); break;
    case 3: seq = t->rcv_nxt - u16(r); break;
    case 4: {
        uint8_t k = u8(r);
        uint32_t base = t->rcv_nxt;
        if (t->n_ooo && t->n_ooo <= SL_TCP_MAX_OOO) {
            const struct sl_sack_block *o = &t->ooo[(k >> 1) % t->n_ooo];
            base = (k & 1) ? o->right : o->left;
        }
        seq = base + (uint32_t)(int32_t)(int8_t)u8(r);
        break;
    }
    case 5: seq = u32(r); break;
    case 6: seq = t->rcv_adv + (uint32_t)(int32_t)(int8_t)u8(r); break;
    default: seq = t->rcv_read + u16(r); break;
    }
    if (fb & 0x80)
        seq -= 1; /* e.g. a keepalive-style probe or a FIN retransmission */
    s->seq = seq;

    /* acknowledgment number */
    uint32_t ack;
    switch (c & 7) {
    case 0: ack = t->snd_max; break;
    case 1: ack = t->snd_una + (uint32_t)(u16(r) % (t->snd_max - t->snd_una + 1u)); break;
    case 2: ack = t->snd_una; break;
    case 3: ack = t->snd_una + (uint32_t)(int32_t)(int16_t)u16(r); break;
    case 4: ack = t->snd_max + (uint32_t)(int32_t)(int8_t)u8(r); break;
    case 5: ack = u32(r); break;
    case 6: ack = t->snd_nxt; break;
    default: ack = t->snd_una + (uint32_t)u8(r) * t->snd_mss; break;
    }
    s->ack = (flags & SL_TCP_ACK) ? ack : ((c & 7) == 5 ? ack : 0);

    /* window: sticky like a real peer's */
    switch ((c >> 3) & 3) {
    case 0: break;
    case 1: W.peer_wnd = u16(r); break;
    case 2: W.peer_wnd = 0; break;
    default: W.peer_wnd = 0xffff; break;
    }
    s->wnd = W.peer_wnd;

    /* options */
    bool ts = (t->flags & SL_TF_TS_OK) != 0 || syn_only || (flags & SL_TCP_SYN);
    if (c & 0x20) {
        uint8_t o = u8(r);
        if (o & 1) {
            s->opts.has_mss = 1;
            s->opts.mss = u16(r);
        }
        if (o & 2) {
            s->opts.has_wscale = 1;
            s->opts.wscale = u8(r);
        }
        if (o & 4)
            s->opts.sack_perm = 1;
        if (o & 8)
            ts = !ts;
        s->opts.has_ts = ts;
        s->opts.tsval = peer_tsval();
        s->opts.tsecr = W.peer_tsecr;
        switch ((o >> 4) & 3) {
        case 1: s->opts.tsval -= u16(r); break;        /* old: PAWS */
        case 2: s->opts.tsval = u32(r); break;
        case 3: s->opts.tsecr = u32(r); break;
        default: break;
        }
        unsigned ns = o >> 6;
        uint32_t prev = t->snd_una;
        for (unsigned k = 0; k < ns; k++) {
            uint8_t bb = u8(r);
            uint32_t base;
            switch (bb & 3) {
            case 0: base = t->snd_una; break;
            case 1: base = t->snd_max; break;
            case 2: base = prev; break;
            default: base = t->snd_una + (uint32_t)u8(r) * t->snd_mss; break;
            }
            uint32_t left = base + (uint32_t)(int32_t)(int16_t)((bb & 4) ? u16(r) : (uint16_t)(int8_t)u8(r));
            uint32_t right = (bb & 8) ? left + 1u + u16(r) : left + t->snd_mss * (1u + (bb >> 4));
            s->opts.sack[s->opts.nsack].left = left;
            s->opts.sack[s->opts.nsack].right = right;
            s->opts.nsack++;
            prev = right;
        }
    } else {
        s->opts.has_ts = ts;
        s->opts.tsval = peer_tsval();
        s->opts.tsecr = W.peer_tsecr;
    }
    if ((flags & SL_TCP_SYN) && !(flags & SL_TCP_ACK))
        s->opts.tsecr = 0;

    /* payload */
    uint32_t len;
    switch (c >> 6) {
    case 0: len = 0; break;
    case 1: len = u8(r); break;
    case 2: len = u16(r) % 3001u; break;
    default: {
        uint8_t v = u8(r);
        len = v < 240 ? LTAB[v & 7] * (1u + (v >> 3) % 2) : u16(r);
        if (len > 3000 && v < 240)
            len = 3000;
        break;
    }
    }
    if (len > PAY_MAX)
        len = PAY_MAX;
    s->len = len;
    uint32_t d0 = seq + ((flags & SL_TCP_SYN) ? 1u : 0u);
    for (uint32_t k = 0; k < len; k++)
        g_pay[k] = peer_byte(d0 + k);
    s->payload = g_pay; /* like sl_tcp_parse: never NULL, even when len == 0 */
}

static void trace_seg(const struct sl_tcp_seg *s)
{
    if (g_trace <= 0)
        return;
    char fb[16];
    fprintf(stderr, "  < %-5s seq=+%u ack=+%u len=%u wnd=%u", fl_str(s->flags, fb),
            s->seq - W.t.irs, s->ack - W.t.iss, s->len, s->wnd);
    if (s->opts.has_mss)
        fprintf(stderr, " mss=%u", s->opts.mss);
    if (s->opts.has_wscale)
        fprintf(stderr, " ws=%u", s->opts.wscale);
    if (s->opts.sack_perm)
        fprintf(stderr, " sackok");
    if (s->opts.has_ts)
        fprintf(stderr, " ts=%u/%u", s->opts.tsval, s->opts.tsecr);
    for (unsigned k = 0; k < s->opts.nsack; k++)
        fprintf(stderr, " sack[+%u,+%u)", s->opts.sack[k].left - W.t.iss,
                s->opts.sack[k].right - W.t.iss);
    fprintf(stderr, "\n");
}

static void record_peer(const struct sl_tcp_seg *s)
{
    uint32_t d0 = s->seq + ((s->flags & SL_TCP_SYN) ? 1u : 0u);
    sent_add(d0, s->len);
    if (s->flags & SL_TCP_FIN)
        fin_add(d0 + s->len);
}

/* ---------------------------------------------------------------- */
/* opening */

static uint32_t g_iss, g_tsoff;

static void open_passive(const struct sl_tcp_seg *syn)
{
    model_reset();
    record_peer(syn);
    begin();
    g_before.state = SL_TCP_LISTEN;
    W.t.state = SL_TCP_LISTEN;
    sl_tcp_open_passive(&W.t, &W.cfg, W.now, LADDR, RADDR, syn, g_iss, g_tsoff, &W.out);
    W.op = "open_passive";
    INV("passive_state", W.t.state == SL_TCP_SYN_RCVD, "passive open -> %s",
        sl_tcp_state_name(W.t.state));
    g_before = W.t;
    check_emitted(C_OPEN);
    check_tcb();
    do_output();
    check_live();
}

/* SYN cookies (RFC 4987), as src/stack/stack.c uses them: the listener
 * answers the SYN statelessly, then a bare ACK carrying the cookie rebuilds
 * the connection through sl_tcp_cookie_open. */
static const uint8_t COOKIE_KEY[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void open_cookie(struct rd *r, const struct sl_tcp_seg *syn)
{
    model_reset();
    record_peer(syn);
    uint16_t pmss = syn->opts.has_mss ? syn->opts.mss : 536;
    uint32_t cookie = sl_tcp_cookie_make(COOKIE_KEY, LADDR, LPORT, RADDR, RPORT, pmss, W.now);
    begin();
    g_before.state = SL_TCP_LISTEN;
    sl_tcp_cookie_synack(&W.cfg, W.now, LADDR, RADDR, syn, cookie, &W.out);
    W.op = "cookie_synack";
    INV("cookie_synack", W.out.n == 1 && W.out.seg[0].flags == (SL_TCP_SYN | SL_TCP_ACK) &&
                             W.out.seg[0].seq == cookie && W.out.seg[0].ack == syn->seq + 1 &&
                             W.out.seg[0].len == 0,
        "cookie SYN-ACK: n %u", W.out.n);
    if (W.out.n && W.out.seg[0].opts.has_ts)
        W.peer_tsecr = W.out.seg[0].opts.tsval;
    /* the peer's view of us, for the segment decoder */
    memset(&W.t, 0, sizeof(W.t));
    W.t.state = SL_TCP_SYN_RCVD;
    W.t.iss = W.t.snd_una = cookie;
    W.t.snd_nxt = W.t.snd_max = cookie + 1;
    W.t.irs = syn->seq;
    W.t.rcv_nxt = W.t.rcv_read = syn->seq + 1;
    W.t.rcv_adv = W.t.rcv_nxt + 65535;
    W.t.snd_mss = 536;
    if (W.out.n && W.out.seg[0].opts.has_ts)
        W.t.flags |= SL_TF_TS_OK;
    W.op_no = 1;
    W.now += (uint64_t)(u8(r) & 63) * 100 * MS; /* the ACK comes up to 6.3 s later */
    struct sl_tcp_seg ack;
    build_seg(r, &ack, false);
    /* the stack takes only a bare ACK (no SYN, no RST) down this path */
    ack.flags = (uint8_t)((ack.flags & ~(SL_TCP_SYN | SL_TCP_RST)) | SL_TCP_ACK);
    for (uint32_t k = 0; k < ack.len; k++) /* without a SYN the data starts at seq */
        g_pay[k] = peer_byte(ack.seq + k);
    trace_seg(&ack);
    uint16_t mss = 0;
    int ok = sl_tcp_cookie_check(COOKIE_KEY, LADDR, LPORT, RADDR, RPORT, ack.ack - 1, W.now, &mss);
    /* the low 3 bits (MSS index) are outside the MAC, as in RFC 4987 3.6's
     * layout: any value there is accepted, the 29 bits above must match */
    bool same = (ack.ack - 1) >> 3 == cookie >> 3;
    INV("cookie_check", ok == same, "cookie check %d for ack-1 %#x, cookie %#x", ok, ack.ack - 1,
        cookie);
    if (!ok) {
        /* a stray ACK: the stack answers it and nothing is created; carry on
         * with a normal passive open so that the input still gets used */
        open_passive(syn);
        return;
    }
    /* (the MSS index is the peer's to choose: it is not under the MAC) */
    INV("cookie_mss", mss >= 536 && mss <= 8960, "cookie MSS %u for peer MSS %u", mss, pmss);
    record_peer(&ack);
    memset(&W.t, 0, sizeof(W.t));
    W.t.state = SL_TCP_LISTEN;
    begin();
    sl_tcp_cookie_open(&W.t, &W.cfg, W.now, LADDR, RADDR, &ack, mss, &W.b, &W.out);
    W.op = "cookie_open";
    INV("cookie_open_state", W.t.state != SL_TCP_SYN_RCVD && W.t.state != SL_TCP_LISTEN,
        "cookie ACK left the connection in %s", sl_tcp_state_name(W.t.state));
    INV("cookie_iss", W.t.iss == ack.ack - 1, "iss %u != SEG.ACK-1 %u", W.t.iss, ack.ack - 1);
    g_before = W.t;
    check_emitted(C_OPEN);
    check_tcb();
    do_output();
    check_live();
}

static void open_active(void)
{
    model_reset();
    begin();
    sl_tcp_open_active(&W.t, &W.cfg, W.now, LADDR, LPORT, RADDR, RPORT, g_iss, g_tsoff, &W.out);
    W.op = "open_active";
    INV("active_state", W.t.state == SL_TCP_SYN_SENT, "active open -> %s",
        sl_tcp_state_name(W.t.state));
    g_before = W.t;
    check_emitted(C_OPEN);
    check_tcb();
    do_output();
    check_live();
}

/* ---------------------------------------------------------------- */
/* operations */

static void op_segment(struct rd *r)
{
    struct sl_tcp_seg s;
    build_seg(r, &s, false);
    trace_seg(&s);
    struct sl_tcb *t = &W.t;

    if (t->state == SL_TCP_TIME_WAIT && sl_tcp_tw_accept_syn(t, &s)) {
        trace("  TIME-WAIT reused by a new SYN\n");
        t->state = SL_TCP_CLOSED; /* as src/stack/stack.c does; it then frees the tcb */
        t->t_rexmt = t->t_delack = t->t_keep = 0;
        g_iss += 0x10000;
    }
    if (t->state == SL_TCP_CLOSED) {
        /* no connection: the listener or the CLOSED reply takes it */
        begin();
        enum sl_ctr v = sl_tcp_listen_check(&s, &W.out);
        INV("listen_verdict", (unsigned)v < SL_CTR__COUNT, "verdict %u", v);
        INV("listen_reply", W.out.n <= 1 && (W.out.n == 0 || (W.out.seg[0].flags == SL_TCP_RST &&
                                                                W.out.seg[0].seq == s.ack)),
            "LISTEN reply");
        if (v == SL_CTR_ok) {
            INV("listen_accepts_syn", (s.flags & (SL_TCP_SYN | SL_TCP_ACK | SL_TCP_RST | SL_TCP_FIN)) ==
                                          SL_TCP_SYN && W.out.n == 0,
                "listen_check accepted flags %#x", s.flags);
            open_passive(&s);
            return;
        }
        W.out.n = 0;
        v = sl_tcp_closed_reply(&s, &W.out);
        INV("closed_reply", (s.flags & SL_TCP_RST) ? W.out.n == 0
                                                   : (W.out.n == 1 && (W.out.seg[0].flags & SL_TCP_RST)),
            "CLOSED reply");
        return;
    }
    record_peer(&s);
    begin();
    sl_tcp_input(t, &W.b, W.now, &s, &W.out);
    check_step(C_INPUT);
    /* RFC 5961 3.2: only an exact RCV.NXT match resets a synchronized connection */
    if ((s.flags & SL_TCP_RST) && g_before.state >= SL_TCP_SYN_RCVD)
        INV("rst_exact_match", s.seq == g_before.rcv_nxt || t->state == g_before.state,
            "RST at +%u (rcv_nxt +%u) changed %s -> %s", s.seq - t->irs,
            g_before.rcv_nxt - t->irs, sl_tcp_state_name(g_before.state),
            sl_tcp_state_name(t->state));
    /* RFC 5961 4.2 / RFC 9293 3.10.7.4 fourth: a SYN in a synchronized state
     * gets a challenge ACK and nothing else (a RST is checked first: second step) */
    if ((s.flags & SL_TCP_SYN) && !(s.flags & SL_TCP_RST) && synced(g_before.state))
        INV("syn_no_effect", t->rcv_nxt == g_before.rcv_nxt && t->snd_una == g_before.snd_una &&
                                 t->state == g_before.state,
            "a SYN in %s was processed: rcv_nxt +%u -> +%u, snd_una +%u -> +%u",
            sl_tcp_state_name(g_before.state), g_before.rcv_nxt - t->irs, t->rcv_nxt - t->irs,
            g_before.snd_una - t->iss, t->snd_una - t->iss);
    /* RFC 5961 5.2: an ACK for data never sent moves nothing */
    if ((s.flags & SL_TCP_ACK) && synced(g_before.state) && sl_seq_gt(s.ack, g_before.snd_max))
        INV("ack_unsent_ignored", t->snd_una == g_before.snd_una,
            "ACK +%u beyond snd_max +%u advanced snd_una", s.ack - t->iss,
            g_before.snd_max - t->iss);
    /* the FIN taken was this one, in order */
    if ((t->flags & SL_TF_FIN_RCVD) && !(g_before.flags & SL_TF_FIN_RCVD) &&
        g_before.state != SL_TCP_SYN_SENT)
        INV("fin_in_order", (s.flags & SL_TCP_FIN) &&
                                s.seq + ((s.flags & SL_TCP_SYN) ? 1u : 0u) + s.len + 1u == t->rcv_nxt,
            "FIN taken at +%u", t->rcv_nxt - 1 - t->irs);
    do_output();
    check_live();
}

static void op_clock(struct rd *r)
{
    uint8_t c = u8(r);
    uint64_t d = 0, next = sl_tcp_next_deadline(&W.t);
    switch (c >> 5) {
    case 0: d = c & 31; break;
    case 1: d = (c & 31) * MS; break;
    case 2: d = (c & 31) * 10 * MS; break;
    case 3: d = u16(r); break;
    case 4: d = (c & 31) * 100 * MS; break;
    case 5: d = next > W.now ? next - W.now : 0; break;         /* exactly the next deadline */
    case 6: d = next > W.now + (c & 31) ? next - W.now - (c & 31) : 0; break; /* just before */
    default: d = (uint64_t)u16(r) * 10 * MS; break;
    }
    if (d > 600 * SEC)
        d = 600 * SEC;
    W.now += d;
    trace("  clock +%llu us -> %llu\n", (unsigned long long)d, (unsigned long long)W.now);
    begin();
    sl_tcp_timers(&W.t, &W.b, W.now, &W.out);
    check_step(C_TIMERS);
    do_output();
    check_live();
}

static bool api_can_write(void)
{
    uint8_t st = W.t.state;
    return (st == SL_TCP_SYN_SENT || st == SL_TCP_SYN_RCVD || st == SL_TCP_ESTABLISHED ||
            st == SL_TCP_CLOSE_WAIT) &&
           !(W.t.flags & SL_TF_FIN_QUEUED);
}

static void op_write(struct rd *r)
{
    uint32_t n = u16(r);
    if (!api_can_write())
        return;
    uint32_t space = sl_tcp_send_space(&W.t), s0 = W.t.snd_end;
    uint32_t want = n < space ? n : space;
    for (uint32_t k = 0; k < want; k++)
        g_buf[k] = our_byte(s0 + k);
    begin();
    uint32_t w = sl_tcp_write(&W.t, &W.b, g_buf, n);
    trace("  write %u -> %u\n", n, w);
    INV("write_amount", w == want && W.t.snd_end == s0 + w, "write %u of %u (space %u)", w, n,
        space);
    check_step(C_APP);
    do_output();
    check_live();
}

static void op_read(struct rd *r)
{
    uint32_t n = u16(r);
    uint32_t avail = sl_tcp_readable(&W.t), s0 = W.t.rcv_read;
    begin();
    uint32_t got = sl_tcp_read(&W.t, &W.b, g_buf, n);
    trace("  read %u -> %u\n", n, got);
    INV("read_amount", got == (n < avail ? n : avail) && W.t.rcv_read == s0 + got,
        "read %u of %u (readable %u)", got, n, avail);
    for (uint32_t k = 0; k < got; k++)
        INV("read_bytes", g_buf[k] == peer_byte(s0 + k),
            "application read a wrong byte at stream offset %u (seq +%u)", W.app_read + k,
            s0 + k - W.t.irs);
    INV("read_was_sent", sent_covers(s0, s0 + got), "read bytes the peer never sent");
    W.app_read += got;
    check_step(C_APP);
    do_output();
    check_live();
}

static void op_close(void)
{
    trace("  close\n");
    begin();
    sl_tcp_close(&W.t, W.now, &W.out);
    check_step(C_CLOSE);
    do_output();
    check_live();
}

static void op_shutdown(struct rd *r)
{
    uint8_t k = u8(r);
    if (!(k & 1)) {
        trace("  shutdown_rd\n");
        begin();
        sl_tcp_shutdown_rd(&W.t);
        check_step(C_APP);
    } else if (W.t.state != SL_TCP_CLOSED) {
        /* sl_close() of src/api/api.c */
        trace("  sl_close\n");
        if (sl_tcp_readable(&W.t)) {
            begin();
            sl_tcp_abort(&W.t, W.now, &W.out);
            check_step(C_ABORT);
        } else {
            begin();
            sl_tcp_shutdown_rd(&W.t);
            check_step(C_APP);
            begin();
            sl_tcp_close(&W.t, W.now, &W.out);
            if (W.t.state == SL_TCP_FIN_WAIT_2 && !W.t.t_keep)
                W.t.t_keep = W.now + SL_TCP_FIN_WAIT2_US;
            check_step(C_CLOSE);
        }
    }
    do_output();
    check_live();
}

static void op_flip(struct rd *r)
{
    uint8_t k = u8(r);
    switch (k & 7) {
    case 0:
        trace("  abort\n");
        begin();
        sl_tcp_abort(&W.t, W.now, &W.out);
        check_step(C_ABORT);
        INV("abort_rst", W.out.n <= 1, "abort emitted %u segments", W.out.n);
        break;
    case 4:
    case 5:
        /* SL_OPT_KEEPALIVE as src/api/api.c sets it (idle time 0..7 s, 0 = off) */
        W.t.keepidle_s = (uint32_t)(k >> 3) % 8;
        trace("  keepalive %u s\n", W.t.keepidle_s);
        if (W.t.state == SL_TCP_ESTABLISHED || W.t.state == SL_TCP_CLOSE_WAIT)
            W.t.t_keep = W.t.keepidle_s ? W.now + (uint64_t)W.t.keepidle_s * SEC : 0;
        break;
    case 6:
        /* SL_OPT_RETRIES: per-connection R2 (0 = default) */
        W.t.r2 = (uint8_t)(k >> 3);
        trace("  r2 %u\n", W.t.r2);
        break;
    default:
        W.t.flags ^= SL_TF_NODELAY;
        trace("  nodelay %d\n", !!(W.t.flags & SL_TF_NODELAY));
        break;
    }
    do_output();
    check_live();
}

static void op_misc(struct rd *r)
{
    uint8_t k = u8(r);
    switch (k & 3) {
    case 0:
    case 1: {
        /* ICMP fragmentation needed quoting one of our segments (RFC 5927) */
        uint32_t fl = W.t.snd_max - W.t.snd_una;
        uint32_t seq = (k & 1) ? u32(r) : W.t.snd_una + (uint32_t)(u16(r) % (fl + 1u));
        uint16_t mtu = u16(r);
        if (W.t.state == SL_TCP_CLOSED)
            break;
        begin();
        enum sl_ctr v = sl_tcp_icmp_ptb(&W.t, seq, mtu);
        trace("  icmp ptb seq=+%u mtu=%u -> %s\n", seq - W.t.iss, mtu, sl_ctr_names[v]);
        INV("ptb_verdict", (unsigned)v < SL_CTR__COUNT, "verdict");
        check_step(C_APP);
        break;
    }
    case 2:
        /* the application opens again after CLOSED (new ISS) */
        if (W.t.state == SL_TCP_CLOSED) {
            trace("  reopen active\n");
            g_iss += 0x20000;
            open_active();
            return;
        }
        break;
    default: {
        /* run the clock to the next deadline k>>2 times (a quiet peer) */
        for (unsigned i = 0; i < (k >> 2) % 16u; i++) {
            uint64_t d = sl_tcp_next_deadline(&W.t);
            if (!d)
                break;
            if (d > W.now)
                W.now = d;
            trace("  fire -> %llu\n", (unsigned long long)W.now);
            g_op_flags0 = W.t.flags;
            begin();
            sl_tcp_timers(&W.t, &W.b, W.now, &W.out);
            check_step(C_TIMERS);
            do_output();
            check_live();
        }
        return;
    }
    }
    do_output();
    check_live();
}

/* ---------------------------------------------------------------- */

static const uint16_t MSS_TAB[8] = {536, 1460, 1448, 1220, 8960, 4036, 16344, 65495};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_trace < 0) {
        const char *e = getenv("FUZZ_TCP_TRACE");
        g_trace = e ? atoi(e) : 0;
        g_only = getenv("FUZZ_TCP_ONLY");
    }
    struct rd r = {data, size};
    memset(&W, 0, sizeof(W));
    g_stall_persist = false;
    W.b.snd = g_snd;
    W.b.rcv = g_rcv;

    uint8_t h0 = u8(&r), h1 = u8(&r), h2 = u8(&r);
    W.cfg.cc = (h0 & 2) ? SL_CC_CUBIC : SL_CC_NEWRENO;
    W.cfg.gso = (h0 & 4) != 0;
    W.cfg.no_sack = (h0 & 8) != 0;
    W.cfg.no_ts = (h0 & 16) != 0;
    W.cfg.no_ws = (h0 & 32) != 0;
    W.cfg.no_tlp = (h0 & 64) != 0;
    static const uint32_t BUFS[8] = {512, 2048, 4096, 8192, 16384, 65536, 262144, 1048576};
    W.cfg.sndbuf = BUFS[h1 & 7];
    W.cfg.rcvbuf = BUFS[(h1 >> 3) & 7];
    W.cfg.mss = MSS_TAB[h2 & 7];
    if (h1 & 0x40)
        W.cfg.mss = (uint16_t)(536 + (h2 >> 3) * 97); /* any MSS from 536 to ~3500 */
    g_iss = u32(&r);
    g_tsoff = u32(&r);
    W.now = 1000 * SEC + (uint64_t)u16(&r) * MS;
    W.peer_ts0 = g_tsoff ^ 0x5a5a5a5au;
    W.peer_wnd = 0xffff;

    trace("fuzz_tcp: %s cc=%u gso=%d sack=%d ts=%d ws=%d tlp=%d snd=%u rcv=%u mss=%u iss=%u\n",
          (h0 & 1) ? "active" : "passive", W.cfg.cc, W.cfg.gso, !W.cfg.no_sack, !W.cfg.no_ts,
          !W.cfg.no_ws, !W.cfg.no_tlp, W.cfg.sndbuf, W.cfg.rcvbuf, W.cfg.mss, g_iss);

    if (h0 & 1) {
        open_active();
    } else {
        struct sl_tcp_seg syn;
        build_seg(&r, &syn, true);
        trace_seg(&syn);
        if (h1 & 0x80)
            open_cookie(&r, &syn);
        else
            open_passive(&syn);
    }
    if (h0 & 0x80)
        W.t.flags |= SL_TF_NODELAY;

    for (W.op_no = 1; r.n && W.op_no <= MAX_OPS; W.op_no++) {
        uint8_t op = u8(&r) & 15;
        trace("op %u: %u (%s)\n", W.op_no, op, sl_tcp_state_name(W.t.state));
        g_op_flags0 = W.t.flags;
        switch (op) {
        case 0: case 1: case 2: case 3: case 4: case 5: case 6: op_segment(&r); break;
        case 7: case 8: case 9: op_clock(&r); break;
        case 10: op_write(&r); break;
        case 11: op_read(&r); break;
        case 12: op_close(); break;
        case 13: op_shutdown(&r); break;
        case 14: op_flip(&r); break;
        default: op_misc(&r); break;
        }
    }
    return 0;
}
