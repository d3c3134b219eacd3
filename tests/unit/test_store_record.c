/* Flow records and the compact control block (src/store/record.[ch]).
 *
 * - sl_tcb_pack/unpack round-trip real control blocks made by the engine
 *   (tests/lib/tcp_harness): every kept field comes back, dropped fields
 *   are cleared, clocks are rebased onto another host's clock, and the
 *   packed size stays within the 128-byte aim.
 * - A connection saved in the middle of a transfer is rebuilt in a fresh
 *   harness (new rings, another clock) and carries on: un-committed
 *   received bytes are re-delivered, unacknowledged bytes retransmitted
 *   from snd_una, new data flows both ways, every byte checked.
 * - Records: round trip (ring wrap, checkpoint), tamper detection (every
 *   byte flipped three ways, each rejected with the right error),
 *   truncation, wrong key, foreign flow, hostile input. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "state/record.h"
#include "tcp_harness.h"

static const uint8_t KEY[SL_REC_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const uint8_t KEY2[SL_REC_KEY_LEN] = "0123456789abcdef0123456789abcdeF";

static unsigned g_max_packed, g_min_packed = 1000;

/* ---------------- helpers ---------------- */

/* Compares the fields sl_tcb_pack keeps; now_a/now_b are the clocks of a
 * and b (absolute times must agree relative to them). */
static bool kept_equal(const struct sl_tcb *a, uint64_t now_a, const struct sl_tcb *b,
                       uint64_t now_b, const char *what)
{
    int bad = 0;
#define F(f)                                                                        \
    if (a->f != b->f) {                                                             \
        fprintf(stderr, "  [%s] field %s: %llu != %llu\n", what, #f,               \
                (unsigned long long)a->f, (unsigned long long)b->f);               \
        bad++;                                                                      \
    }
    F(laddr) F(raddr) F(lport) F(rport) F(state) F(cc) F(iss) F(snd_una) F(snd_nxt) F(snd_max)
    F(snd_end) F(snd_wnd) F(snd_wl1) F(snd_wl2) F(max_snd_wnd) F(irs) F(rcv_nxt) F(rcv_adv)
    F(rcv_read) F(snd_bufsz) F(rcv_bufsz) F(snd_mss) F(rcv_mss) F(peer_mss) F(path_mss)
    F(snd_wscale) F(rcv_wscale) F(backoff) F(dupacks) F(srtt) F(rttvar) F(rto) F(cwnd)
    F(ssthresh) F(recover) F(ca_acked) F(cub_wmax) F(cub_k_ms) F(cub_west) F(high_rxt)
    F(rxt_mark) F(ka_probes) F(keepidle_s) F(err) F(retrans_total) F(snd_off_hi) F(r2) F(tos)
    F(keepidle_cfg) F(ecn_mark) F(route_app) F(route.type) F(route.n) F(route.hop[0])
    F(route.hop[7])
#undef F
    if ((a->flags & ~(uint32_t)SL_TF_RTT_VALID) != b->flags) {
        fprintf(stderr, "  [%s] flags %#x != %#x\n", what, a->flags, b->flags);
        bad++;
    }
    if (a->flags & SL_TF_TS_OK) {
        uint32_t ma = (uint32_t)(now_a / 1000), mb = (uint32_t)(now_b / 1000);
        if (a->ts_recent != b->ts_recent || a->last_ack_sent != b->last_ack_sent ||
            ma + a->ts_offset != mb + b->ts_offset || ma - a->ts_recent_ms != mb - b->ts_recent_ms) {
            fprintf(stderr, "  [%s] timestamps differ\n", what);
            bad++;
        }
    }
    if ((a->cub_epoch_ms == 0) != (b->cub_epoch_ms == 0) ||
        (a->cub_epoch_ms && (uint32_t)(now_a / 1000) - a->cub_epoch_ms !=
                                (uint32_t)(now_b / 1000) - b->cub_epoch_ms)) {
        fprintf(stderr, "  [%s] cubic epoch differs\n", what);
        bad++;
    }
    const uint64_t ta[3] = {a->t_rexmt, a->t_delack, a->t_keep};
    const uint64_t tb[3] = {b->t_rexmt, b->t_delack, b->t_keep};
    for (int i = 0; i < 3; i++) {
        uint64_t ra = ta[i] ? (ta[i] > now_a ? ta[i] - now_a : 0) : UINT64_MAX;
        uint64_t rb = tb[i] ? (tb[i] > now_b ? tb[i] - now_b : 0) : UINT64_MAX;
        if (ra != rb) {
            fprintf(stderr, "  [%s] timer %d: remaining %llu != %llu\n", what, i,
                    (unsigned long long)ra, (unsigned long long)rb);
            bad++;
        }
    }
    /* dropped: cleared */
    if (b->n_sacked || b->n_ooo || b->ooo_last || b->rtt_seq || b->rtt_start_us ||
        b->chack_window || b->chack_count) {
        fprintf(stderr, "  [%s] dropped fields not cleared\n", what);
        bad++;
    }
    return bad == 0;
}

/* Pack, unpack on the same and on two other clocks, repack: the kept
 * state survives and the encoding is canonical. */
static void check_pack(const struct sl_tcb *t, uint64_t now, const char *what)
{
    uint8_t p[SL_TCB_PACKED_MAX], p2[SL_TCB_PACKED_MAX];
    int n = sl_tcb_pack(t, now, p, sizeof(p));
    CHECK(n > 0);
    if (n <= 0)
        return;
    printf("     packed tcb %-28s %3d bytes (state %s)\n", what, n, sl_tcp_state_name(t->state));
    if ((unsigned)n > g_max_packed)
        g_max_packed = (unsigned)n;
    if ((unsigned)n < g_min_packed)
        g_min_packed = (unsigned)n;
    CHECK(n <= 128); /* the 128-byte aim */
    struct sl_flow f = {t->laddr, t->raddr, t->lport, t->rport};
    const uint64_t clocks[3] = {now, now + 7 * TH_SEC + 123, 500 * TH_SEC + 999};
    for (int c = 0; c < 3; c++) {
        struct sl_tcb u;
        memset(&u, 0xa5, sizeof(u));
        CHECK_EQ(sl_tcb_unpack(p, (size_t)n, &f, clocks[c], &u), 0);
        CHECK(kept_equal(t, now, &u, clocks[c], what));
        int n2 = sl_tcb_pack(&u, clocks[c], p2, sizeof(p2));
        CHECK_EQ(n2, n);
        CHECK(n2 == n && !memcmp(p, p2, (size_t)n));
    }
    /* every truncation is refused */
    struct sl_tcb u;
    for (int k = 0; k < n; k++)
        CHECK_EQ(sl_tcb_unpack(p, (size_t)k, &f, now, &u), -EMSGSIZE);
    uint8_t longer[SL_TCB_PACKED_MAX + 1];
    memcpy(longer, p, (size_t)n);
    longer[n] = 0;
    CHECK_EQ(sl_tcb_unpack(longer, (size_t)n + 1, &f, now, &u), -EMSGSIZE);
    CHECK_EQ(sl_tcb_pack(t, now, p, (size_t)n - 1), -ENOBUFS);
}

static void check_payloads(const struct th *h)
{
    static uint8_t buf[65536];
    for (unsigned i = 0; i < h->out.n; i++) {
        const struct sl_tcp_emit *e = &h->out.seg[i];
        if (!e->len || e->len > sizeof(buf))
            continue;
        sl_tcp_copy_out(&h->t, h->b.snd, e->seq, buf, e->len);
        uint32_t off = e->seq - (TH_ISS + 1);
        int ok = 1;
        for (uint32_t k = 0; k < e->len; k++)
            ok &= buf[k] == (uint8_t)((off + k) % 253);
        CHECK(ok);
    }
}

static struct th *est_passive(const struct sl_tcp_cfg *cfg, const struct th_peer *p)
{
    struct th *h = th_new(cfg);
    th_open_passive(h, p, 10 * TH_MS);
    return h;
}

/* ---------------- control blocks made by the engine ---------------- */

static void test_pack_real_tcbs(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th_peer full = th_peer_full(), bare = th_peer_bare();

    /* SYN_SENT: just opened */
    struct th *h = th_new(&cfg);
    th_connect(h);
    check_pack(&h->t, h->now, "syn_sent");

    /* ESTABLISHED, data both ways, delayed ACK pending, RTT sample in flight */
    h = est_passive(&cfg, &full);
    struct sl_tcp_seg d = th_data(h, 0, 1000);
    th_input(h, &d);
    th_write(h, 5000);
    th_output(h);
    th_advance(h, 3 * TH_MS);
    check_pack(&h->t, h->now, "established");

    /* bare peer: no TS, SACK, WS */
    h = est_passive(&cfg, &bare);
    th_write(h, 3000);
    th_output(h);
    check_pack(&h->t, h->now, "established_bare");

    /* out-of-order data held (dropped on pack: reneging is allowed) */
    h = est_passive(&cfg, &full);
    d = th_data(h, 2896, 1448);
    th_input(h, &d);
    CHECK(h->t.n_ooo > 0);
    check_pack(&h->t, h->now, "ooo_held");

    /* CUBIC after a loss: epoch, W_max, K set */
    struct sl_tcp_cfg cc = cfg;
    cc.cc = 1;
    cc.sndbuf = 1u << 18;
    h = th_new(&cc);
    th_open_active(h, &full, 10 * TH_MS);
    th_write(h, 60000);
    th_output(h);
    for (int i = 0; i < 5; i++) { /* grow cwnd */
        th_advance(h, 10 * TH_MS);
        struct sl_tcp_seg a = th_ack(h, h->t.snd_una + 2 * 1448);
        th_input(h, &a);
    }
    th_advance(h, 2 * TH_SEC); /* RTO: loss event */
    th_timers(h);
    for (int i = 0; i < 5; i++) {
        th_advance(h, 10 * TH_MS);
        struct sl_tcp_seg a = th_ack(h, h->t.snd_una + 1448);
        th_input(h, &a);
    }
    check_pack(&h->t, h->now, "cubic_after_rto");

    /* SACK recovery in progress: scoreboard dropped, recovery state kept */
    h = th_new(&cc);
    th_open_active(h, &full, 10 * TH_MS);
    struct sl_tcp_seg w = th_ack(h, TH_SND(0));
    th_input(h, &w);
    th_write(h, 10 * 1448);
    th_output(h);
    for (unsigned i = 1; i < 5; i++) {
        struct sl_tcp_seg a = th_ack(h, TH_SND(0));
        th_add_sack(&a, TH_SND(1448), TH_SND((i + 1) * 1448));
        th_input(h, &a);
    }
    CHECK(h->t.flags & SL_TF_IN_RECOVERY);
    CHECK(h->t.n_sacked > 0);
    check_pack(&h->t, h->now, "sack_recovery");

}

static void test_pack_real_tcbs_2(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th_peer full = th_peer_full();
    struct th *h;

    /* keepalive armed */
    h = est_passive(&cfg, &full);
    h->t.keepidle_s = 7200;
    h->t.t_keep = h->now + 7200ull * TH_SEC;
    check_pack(&h->t, h->now, "keepalive_2h");

    /* closing: FIN_WAIT_1 with data queued, then TIME_WAIT */
    h = est_passive(&cfg, &full);
    th_write(h, 2000);
    sl_tcp_close(&h->t, h->now, &h->out);
    th_output(h);
    check_pack(&h->t, h->now, "fin_wait_1");
    struct sl_tcp_seg a = th_ack(h, h->t.snd_max);
    th_input(h, &a);
    struct sl_tcp_seg fin = th_seg(h, TH_F_FIN | TH_F_ACK, TH_RCV(0), h->t.snd_max, 0);
    th_input(h, &fin);
    CHECK_EQ(h->t.state, SL_TCP_TIME_WAIT);
    check_pack(&h->t, h->now, "time_wait");

    /* a long-lived connection: gigabytes sent, sequence numbers wrapped */
    h = est_passive(&cfg, &full);
    h->t.snd_una += 3000000000u; /* as if 3 GB had been acknowledged */
    h->t.snd_nxt += 3000000000u;
    h->t.snd_max += 3000000000u;
    h->t.snd_end += 3000000000u;
    h->t.recover += 3000000000u;
    h->t.high_rxt += 3000000000u;
    h->t.snd_wl2 += 3000000000u;
    check_pack(&h->t, h->now, "after_3GB");

    /* more than 4 GiB written: the 64-bit send offset carries past the
     * 32-bit wrap and survives packing */
    h = est_passive(&cfg, &full);
    {
        uint32_t at = h->t.iss + 1 + 0xffffff00u; /* 4 GiB - 256 written */
        uint8_t data[512] = {0};
        h->t.snd_una = h->t.snd_nxt = h->t.snd_max = h->t.snd_end = at;
        h->t.recover = h->t.high_rxt = h->t.snd_wl2 = at;
        CHECK_EQ(h->t.snd_off_hi, 0u);
        CHECK_EQ(sl_tcp_write(&h->t, &h->b, data, 255), 255u);
        CHECK_EQ(h->t.snd_off_hi, 0u);
        CHECK_EQ(sl_tcp_write(&h->t, &h->b, data, 2), 2u); /* crosses 4 GiB */
        CHECK_EQ(h->t.snd_off_hi, 1u);
        CHECK_EQ(h->t.snd_end - h->t.iss - 1, 1u);
        h->t.snd_off_hi = 0xfffffffeu;
        check_pack(&h->t, h->now, "past_4GiB");
    }
    printf("     packed tcb sizes: min %u, max %u bytes (sizeof(struct sl_tcb) = %zu)\n",
           g_min_packed, g_max_packed, sizeof(struct sl_tcb));
}

/* Extreme values: every field at a limit still round-trips. */
static void test_pack_extremes(void)
{
    struct sl_tcb t;
    memset(&t, 0xff, sizeof(t));
    t.state = SL_TCP_TIME_WAIT;
    t.cc = 1;
    t.flags = 0x3ffffu & ~(uint32_t)SL_TF_RTT_VALID;
    t.snd_bufsz = 1u << 30;
    t.rcv_bufsz = 1u << 30;
    t.snd_wscale = t.rcv_wscale = 14;
    t.err = -4095;
    t.n_sacked = t.n_ooo = t.ooo_last = 0;
    t.rtt_seq = t.rtt_start_us = t.chack_window = t.chack_count = 0;
    t.route.type = SL_IPOPT_SSRR; /* the widest route */
    t.route.n = SL_SRCROUTE_MAX;
    t.route_app = 1;
    uint64_t now = 1ull << 40;
    t.t_rexmt = UINT64_MAX; /* far future */
    t.t_delack = 1;         /* long overdue */
    t.t_keep = now;
    t.cub_epoch_ms = 1;
    uint8_t p[SL_TCB_PACKED_MAX];
    int n = sl_tcb_pack(&t, now, p, sizeof(p));
    CHECK(n > 0 && n <= SL_TCB_PACKED_MAX);
    printf("     packed tcb with all-ones fields: %d bytes (bound %d)\n", n,
           SL_TCB_PACKED_MAX);
    struct sl_flow f = {t.laddr, t.raddr, t.lport, t.rport};
    struct sl_tcb u;
    CHECK_EQ(sl_tcb_unpack(p, (size_t)n, &f, now, &u), 0);
    CHECK(u.t_rexmt > now + (1ull << 61)); /* "very far", kept far */
    CHECK_EQ(u.t_delack, now); /* overdue: fires at once */
    CHECK_EQ(u.t_keep, now);
    CHECK_EQ(u.ssthresh, UINT32_MAX);
    CHECK_EQ(u.err, -4095);
    CHECK_EQ(u.snd_bufsz, 1u << 30);
    /* values a real tcb cannot have are refused by both sides */
    struct sl_tcb bad = t;
    bad.snd_bufsz = 3000;
    CHECK_EQ(sl_tcb_pack(&bad, now, p, sizeof(p)), -EINVAL);
    bad = t;
    bad.state = SL_TCP__NSTATES;
    CHECK_EQ(sl_tcb_pack(&bad, now, p, sizeof(p)), -EINVAL);
    bad = t;
    bad.flags = 0x80000000u;
    CHECK_EQ(sl_tcb_pack(&bad, now, p, sizeof(p)), -EINVAL);
    uint8_t v4[8] = {4}; /* a packing version this reader does not know */
    CHECK_EQ(sl_tcb_unpack(v4, sizeof(v4), &f, now, &u), -EPROTONOSUPPORT);
}

/* Hostile packed control blocks: random bytes and mutations of a valid
 * one never crash and only produce the documented errors. */
static void test_unpack_hostile(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th_peer full = th_peer_full();
    struct th *h = est_passive(&cfg, &full);
    uint8_t p[SL_TCB_PACKED_MAX], m[SL_TCB_PACKED_MAX];
    int n = sl_tcb_pack(&h->t, h->now, p, sizeof(p));
    CHECK(n > 0);
    uint32_t seed = 1;
    int other = 0, decoded = 0, exact = 0;
    struct sl_flow f = {0};
    for (int it = 0; it < 200000; it++) {
        size_t len = (size_t)n;
        memcpy(m, p, (size_t)n);
        seed = seed * 1664525u + 1013904223u;
        int flips = 1 + (seed >> 28);
        for (int k = 0; k < flips; k++) {
            seed = seed * 1664525u + 1013904223u;
            m[(seed >> 8) % (uint32_t)n] ^= (uint8_t)(seed >> 20);
        }
        if (it & 1) {
            seed = seed * 1664525u + 1013904223u;
            len = (seed >> 8) % sizeof(m);
            if (len > (size_t)n)
                for (size_t k = (size_t)n; k < len; k++)
                    m[k] = (uint8_t)(seed >> (k % 24));
        }
        struct sl_tcb u;
        int rc = sl_tcb_unpack(m, len, &f, h->now, &u);
        if (rc != 0 && rc != -EMSGSIZE && rc != -EINVAL && rc != -EPROTONOSUPPORT)
            other++;
        if (rc == 0) { /* whatever decodes re-encodes, and that is a fixed point */
            uint8_t q[SL_TCB_PACKED_MAX], q2[SL_TCB_PACKED_MAX];
            struct sl_tcb u2;
            int n2 = sl_tcb_pack(&u, h->now, q, sizeof(q));
            if (n2 <= 0 || sl_tcb_unpack(q, (size_t)n2, &f, h->now, &u2) ||
                sl_tcb_pack(&u2, h->now, q2, sizeof(q2)) != n2 || memcmp(q, q2, (size_t)n2))
                other++;
            else
                exact += n2 == (int)len && !memcmp(q, m, len);
            decoded++;
        }
    }
    CHECK_EQ(other, 0);
    printf("     hostile: 200000 mutants, %d decoded (%d re-encode to the same bytes)\n", decoded,
           exact);
}

/* ---------------- a connection saved and restored ---------------- */

static void copy_into_ring(uint8_t *ring, uint32_t size, uint32_t seq, const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ring[(seq + i) & (size - 1)] = p[i];
}

static void test_restore_continues(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th_peer full = th_peer_full();
    struct th *h = est_passive(&cfg, &full);
    /* the peer sends 3000 bytes; the application reads 1000 */
    for (uint32_t off = 0; off < 3000; off += 1448) {
        struct sl_tcp_seg d = th_data(h, off, off + 1448 <= 3000 ? 1448 : 3000 - off);
        th_input(h, &d);
    }
    CHECK_EQ(th_read(h, 1000), 1000);
    /* we send 20000 bytes; the peer ACKs the first two segments */
    CHECK_EQ(th_write(h, 20000), 20000);
    th_output(h);
    th_advance(h, 10 * TH_MS);
    struct sl_tcp_seg a = th_ack(h, TH_SND(2 * 1448));
    th_input(h, &a);
    CHECK(sl_seq_lt(h->t.snd_una, h->t.snd_max));

    /* level-2 commit: the application read 1000 but committed only 500 */
    const struct sl_tcb *t = &h->t;
    uint32_t rcv_seq = t->rcv_read - 500;
    struct sl_record_in in = {
        .tcb = t, .now_us = h->now, .epoch = 3, .gen = 42,
        .snd_seq = t->snd_una,
        .snd = sl_rec_ring(h->b.snd, t->snd_bufsz, t->snd_una, t->snd_end - t->snd_una),
        .rcv_seq = rcv_seq,
        .rcv = sl_rec_ring(h->b.rcv, t->rcv_bufsz, rcv_seq, t->rcv_nxt - rcv_seq),
        .ckpt = "app-state", .ckpt_len = 9};
    ssize_t sz = sl_record_size(&in);
    uint8_t *rec = malloc((size_t)sz);
    CHECK_EQ(sl_record_encode(&in, KEY, rec, (size_t)sz), sz);

    /* another process, another clock, new rings */
    struct th *h2 = th_new(&cfg);
    h2->now = h->now + 3 * TH_SEC;
    h2->peer = h->peer;
    h2->peer_tsecr = h->peer_tsecr;
    struct sl_flow fl = {t->laddr, t->raddr, t->lport, t->rport};
    struct sl_record r;
    CHECK_EQ(sl_record_decode(rec, (size_t)sz, KEY, &fl, h2->now, &r), 0);
    CHECK_EQ(r.epoch, 3);
    CHECK_EQ(r.gen, 42);
    CHECK(r.ckpt_len == 9 && !memcmp(r.ckpt, "app-state", 9));
    h2->t = r.tcb;
    copy_into_ring(h2->b.snd, h2->t.snd_bufsz, r.snd_seq, r.snd, r.snd_len);
    copy_into_ring(h2->b.rcv, h2->t.rcv_bufsz, r.rcv_seq, r.rcv, r.rcv_len);
    h2->t.rcv_read = r.rcv_seq; /* re-deliver what was not committed */

    /* the application gets the 500 uncommitted + 2000 unread bytes, in order */
    CHECK_EQ(sl_tcp_readable(&h2->t), 2500);
    CHECK_EQ(th_read(h2, 4000), 2500);

    /* retransmit from snd_una at once (the stack's restore step) */
    h2->t.snd_nxt = h2->t.snd_una;
    th_output(h2);
    CHECK(h2->out.n > 0);
    if (h2->out.n)
        CHECK_EQ(SEG(h2, 0).seq, h->t.snd_una);
    check_payloads(h2);
    /* the peer ACKs whatever arrives until everything is through */
    for (int i = 0; i < 200 && h2->t.snd_una != h2->t.snd_end; i++) {
        th_advance(h2, 10 * TH_MS);
        struct sl_tcp_seg ack = th_ack(h2, h2->t.snd_max);
        th_input(h2, &ack);
        check_payloads(h2);
    }
    CHECK_EQ(h2->t.snd_una, TH_SND(20000));
    /* and new data from the peer is taken (PAWS, window, sequence all fine) */
    struct sl_tcp_seg d = th_data(h2, 3000, 1000);
    th_input(h2, &d);
    CHECK_EQ(th_read(h2, 1000), 1000);
    CHECK_EQ(h2->t.state, SL_TCP_ESTABLISHED);
    free(rec);
}

/* ---------------- records ---------------- */

static struct sl_tcb sample_tcb(void)
{
    struct sl_tcb t;
    memset(&t, 0, sizeof(t));
    t.laddr = 0xc6120002;
    t.raddr = 0xc6120001;
    t.lport = 80;
    t.rport = 41234;
    t.state = SL_TCP_ESTABLISHED;
    t.flags = SL_TF_SACK_OK | SL_TF_TS_OK | SL_TF_WS_OK;
    t.iss = 0xfffff000u;
    t.snd_una = 0xfffffff0u; /* wraps */
    t.snd_nxt = t.snd_max = t.snd_una + 3000;
    t.snd_end = t.snd_una + 5000;
    t.snd_bufsz = t.rcv_bufsz = 8192;
    t.irs = 7;
    t.rcv_nxt = 4000;
    t.rcv_read = 3000;
    t.rcv_adv = 4000 + 8192;
    t.snd_mss = 1448;
    t.rto = 200000;
    t.cwnd = 14480;
    t.ssthresh = UINT32_MAX;
    return t;
}

static uint8_t *encode_sample(ssize_t *len, uint8_t *snd_ring, uint8_t *rcv_ring)
{
    static struct sl_tcb t;
    t = sample_tcb();
    for (int i = 0; i < 8192; i++) {
        snd_ring[i] = (uint8_t)(i * 3);
        rcv_ring[i] = (uint8_t)(i * 5 + 1);
    }
    struct sl_record_in in = {
        .tcb = &t, .now_us = 123456789, .epoch = 0x1122334455667788ull, .gen = 9,
        .snd_seq = t.snd_una,
        .snd = sl_rec_ring(snd_ring, t.snd_bufsz, t.snd_una, t.snd_end - t.snd_una),
        .rcv_seq = t.rcv_read,
        .rcv = sl_rec_ring(rcv_ring, t.rcv_bufsz, t.rcv_read, t.rcv_nxt - t.rcv_read),
        .ckpt = "checkpoint!", .ckpt_len = 11};
    *len = sl_record_size(&in);
    uint8_t *buf = malloc((size_t)*len);
    CHECK_EQ(sl_record_encode(&in, KEY, buf, (size_t)*len), *len);
    CHECK_EQ(sl_record_encode(&in, KEY, buf, (size_t)*len - 1), -ENOBUFS);
    return buf;
}

static void test_record_roundtrip(void)
{
    static uint8_t sr[8192], rr[8192];
    ssize_t len;
    uint8_t *buf = encode_sample(&len, sr, rr);
    struct sl_tcb t = sample_tcb();
    struct sl_record r;
    struct sl_flow fl = {t.laddr, t.raddr, t.lport, t.rport};
    CHECK_EQ(sl_record_decode(buf, (size_t)len, KEY, &fl, 123456789, &r), 0);
    CHECK_EQ(r.epoch, 0x1122334455667788ull);
    CHECK_EQ(r.gen, 9);
    CHECK_EQ(r.snd_seq, t.snd_una);
    CHECK_EQ(r.snd_len, 5000);
    CHECK_EQ(r.rcv_seq, 3000);
    CHECK_EQ(r.rcv_len, 1000);
    int ok = 1;
    for (uint32_t i = 0; i < r.snd_len; i++) /* the send range wrapped around the ring */
        ok &= r.snd[i] == sr[(t.snd_una + i) & 8191];
    for (uint32_t i = 0; i < r.rcv_len; i++)
        ok &= r.rcv[i] == rr[(3000 + i) & 8191];
    CHECK(ok);
    CHECK(r.ckpt_len == 11 && !memcmp(r.ckpt, "checkpoint!", 11));
    CHECK(kept_equal(&t, 123456789, &r.tcb, 123456789, "record"));
    printf("     sample record: %zd bytes = %d header + %u tcb + 5000 send + 1000 recv + 11 ckpt + %d MAC\n",
           len, SL_REC_HDR_LEN, r.tcb_len, SL_REC_MAC_LEN);
    struct sl_flow pf;
    uint64_t pe;
    CHECK_EQ(sl_record_peek(buf, (size_t)len, &pf, &pe), 0);
    CHECK(!memcmp(&pf, &fl, sizeof(pf)) && pe == 0x1122334455667788ull);

    /* empty streams, no checkpoint */
    struct sl_record_in in = {.tcb = &t, .now_us = 5, .snd_seq = t.snd_una, .rcv_seq = t.rcv_nxt};
    uint8_t small[256];
    ssize_t n = sl_record_encode(&in, KEY, small, sizeof(small));
    CHECK(n > 0);
    CHECK_EQ(sl_record_decode(small, (size_t)n, KEY, NULL, 5, &r), 0);
    CHECK(r.snd_len == 0 && r.rcv_len == 0 && r.ckpt_len == 0 && !r.snd && !r.rcv && !r.ckpt);
    /* oversized checkpoint */
    in.ckpt = small;
    in.ckpt_len = SL_REC_MAX_CKPT + 1;
    CHECK_EQ(sl_record_size(&in), -EMSGSIZE);
    CHECK_EQ(sl_record_encode(&in, KEY, small, sizeof(small)), -EMSGSIZE);
    free(buf);
}

static void test_record_tamper(void)
{
    static uint8_t sr[8192], rr[8192];
    ssize_t len;
    uint8_t *buf = encode_sample(&len, sr, rr);
    struct sl_record r;
    static const uint8_t masks[3] = {0x01, 0x80, 0xff};
    int accepted = 0, wrong_err = 0;
    for (ssize_t i = 0; i < len; i++) {
        for (int m = 0; m < 3; m++) {
            buf[i] ^= masks[m];
            int rc = sl_record_decode(buf, (size_t)len, KEY, NULL, 1, &r);
            buf[i] ^= masks[m];
            int want;
            if (i < 4)
                want = -ENOMSG;
            else if (i == 4 || i == 5)
                want = -EPROTONOSUPPORT;
            else if (i == 6 || i == 7 || /* tcb_len (16 bits) */ (i >= 40 && i < 44) || (i >= 48 && i < 56))
                want = -EMSGSIZE; /* a length: the total no longer matches */
            else
                want = -EBADMSG;
            accepted += rc == 0;
            if (rc != want) {
                if (wrong_err++ < 5)
                    fprintf(stderr, "  byte %zd mask %#x: rc %d, want %d\n", i, masks[m], rc, want);
            }
        }
    }
    printf("     tamper: %zd bytes x 3 flips, %d accepted\n", len, accepted);
    CHECK_EQ(accepted, 0);
    CHECK_EQ(wrong_err, 0);
    /* every truncation and an extra byte */
    int trunc_ok = 0;
    for (ssize_t k = 0; k < len; k++)
        trunc_ok += sl_record_decode(buf, (size_t)k, KEY, NULL, 1, &r) == 0;
    CHECK_EQ(trunc_ok, 0);
    uint8_t *longer = malloc((size_t)len + 1);
    memcpy(longer, buf, (size_t)len);
    longer[len] = 0;
    CHECK_EQ(sl_record_decode(longer, (size_t)len + 1, KEY, NULL, 1, &r), -EMSGSIZE);
    free(longer);
    /* another key: a foreign record */
    CHECK_EQ(sl_record_decode(buf, (size_t)len, KEY2, NULL, 1, &r), -EBADMSG);
    /* an authentic record of another flow */
    struct sl_flow other = {0xc6120002, 0xc6120001, 80, 41235};
    CHECK_EQ(sl_record_decode(buf, (size_t)len, KEY, &other, 1, &r), -EXDEV);
    CHECK_EQ(sl_record_decode(NULL, 0, KEY, NULL, 1, &r), -EMSGSIZE);
    CHECK_EQ(sl_record_decode((const uint8_t *)"hello", 5, KEY, NULL, 1, &r), -ENOMSG);
    free(buf);
}

/* An authentic record whose streams disagree with its tcb (a writer bug,
 * or a stolen key) is still refused: -EINVAL. */
static void test_record_inconsistent(void)
{
    struct sl_tcb t = sample_tcb();
    uint8_t data[10000] = {0}, out[20000];
    struct sl_record r;
    struct sl_record_in in = {.tcb = &t, .now_us = 5, .snd_seq = t.snd_una - 10,
                              .snd = sl_rec_flat(data, 100), .rcv_seq = t.rcv_nxt};
    ssize_t n = sl_record_encode(&in, KEY, out, sizeof(out));
    CHECK(n > 0);
    CHECK_EQ(sl_record_decode(out, (size_t)n, KEY, NULL, 5, &r), -EINVAL); /* below snd_una */
    in.snd_seq = t.snd_una;
    in.snd = sl_rec_flat(data, 9000); /* more than the ring, past snd_end */
    n = sl_record_encode(&in, KEY, out, sizeof(out));
    CHECK_EQ(sl_record_decode(out, (size_t)n, KEY, NULL, 5, &r), -EINVAL);
    in.snd = sl_rec_flat(data, 0);
    in.rcv_seq = t.rcv_nxt - 5;
    in.rcv = sl_rec_flat(data, 10); /* past rcv_nxt */
    n = sl_record_encode(&in, KEY, out, sizeof(out));
    CHECK_EQ(sl_record_decode(out, (size_t)n, KEY, NULL, 5, &r), -EINVAL);
    in.rcv_seq = t.rcv_nxt - 10;
    n = sl_record_encode(&in, KEY, out, sizeof(out));
    CHECK_EQ(sl_record_decode(out, (size_t)n, KEY, NULL, 5, &r), 0);
}

/* ---------------- the control block's fields, each decided ---------------- */

struct tcb_field {
    const char *name, *why;
    size_t off, size;
    int packed;
};
#define FATE_PACKED 1
#define FATE_DROPPED 0
#define FIELD_ROW(type, name, arr, fate, why)                                                     \
    {#name, why, offsetof(struct sl_tcb, name), sizeof(((struct sl_tcb *)0)->name), FATE_##fate},
static const struct tcb_field tcb_fields[] = {SL_TCB_FIELDS(FIELD_ROW)};
#define N_FIELDS (sizeof(tcb_fields) / sizeof(tcb_fields[0]))

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* A control block whose every PACKED field holds a value (not zero): a
 * field declared PACKED and left out here fails the test below. */
static void every_field_set(struct sl_tcb *t, uint64_t now)
{
    memset(t, 0, sizeof(*t));
    uint32_t now_ms = (uint32_t)(now / 1000);
    t->state = SL_TCP_ESTABLISHED;
    t->cc = 1;
    t->r2 = 7;
    t->flags = SL_TF_TS_OK | SL_TF_SACK_OK | SL_TF_WS_OK | SL_TF_NODELAY | SL_TF_RCV_URG |
               SL_TF_SND_URG;
    t->iss = 1000;
    t->snd_una = 5000;
    t->snd_nxt = 6000;
    t->snd_max = 6500;
    t->snd_end = 9000;
    t->snd_wnd = 65535 * 4;
    t->snd_wl1 = 77000;
    t->snd_wl2 = 5000;
    t->max_snd_wnd = 65535 * 8;
    t->irs = 70000;
    t->rcv_nxt = 77001;
    t->rcv_adv = 77001 + 65536;
    t->rcv_up = 77001 + 3;
    t->snd_up = 5000 + 10;
    t->rcv_read = 76000;
    t->snd_bufsz = 1u << 16;
    t->rcv_bufsz = 1u << 17;
    t->snd_mss = 1400;
    t->rcv_mss = 1460;
    t->peer_mss = 1440;
    t->path_mss = 1420;
    t->snd_wscale = 7;
    t->rcv_wscale = 9;
    t->backoff = 2;
    t->dupacks = 1;
    t->ts_recent = 123456;
    t->ts_recent_ms = now_ms - 40;
    t->ts_offset = 0x1234567;
    t->last_ack_sent = 77001;
    t->srtt = 20000;
    t->rttvar = 5000;
    t->rto = 200000;
    t->cwnd = 64000;
    t->ssthresh = 32000;
    t->recover = 4800;
    t->ca_acked = 300;
    t->cub_wmax = 90000;
    t->cub_k_ms = 700;
    t->cub_epoch_ms = now_ms - 500;
    t->cub_west = 50000;
    t->high_rxt = 5600;
    t->rxt_mark = 6400;
    t->ka_probes = 1;
    t->t_rexmt = now + 150000;
    t->t_delack = now + 40000;
    t->t_keep = now + 33000000;
    t->keepidle_s = 33;
    t->err = -110;
    t->retrans_total = 9;
    t->snd_off_hi = 2;
    t->ecn_mark = 6500;
    t->keepidle_cfg = 33;
    t->tos = 0xb8;
    t->route_app = 1;
    t->route.type = SL_IPOPT_LSRR;
    t->route.n = 2;
    t->route.hop[0] = 0xc6120a01;
    t->route.hop[1] = 0xc6120b01;
    /* dropped ones, set too: they must come back cleared */
    t->laddr = 0xc6120002;
    t->raddr = 0xc6120001;
    t->lport = 80;
    t->rport = 40000;
    t->oow_count = 3;
    t->rtt_seq = 5500;
    t->rtt_start_us = 42;
    t->n_sacked = 1;
    t->sacked[0].left = 6000;
    t->sacked[0].right = 6200;
    t->n_ooo = 1;
    t->ooo_last = 1;
    t->ooo[0].left = 78000;
    t->ooo[0].right = 79000;
    t->chack_window = 5;
    t->chack_count = 2;
}

/* Every field of struct sl_tcb is declared with a decision (the struct is
 * built from SL_TCB_FIELDS, so it cannot have another); a PACKED one
 * survives a record bit for bit (packed and unpacked at the same clock),
 * a DROPPED one comes back cleared and says why. */
static void test_tcb_fields_decided(void)
{
    uint64_t now = 5000000000ull;
    struct sl_tcb t, u;
    every_field_set(&t, now);
    uint8_t p[SL_TCB_PACKED_MAX];
    int n = sl_tcb_pack(&t, now, p, sizeof(p));
    CHECK(n > 0);
    struct sl_flow f = {t.laddr, t.raddr, t.lport, t.rport};
    CHECK_EQ(sl_tcb_unpack(p, (size_t)n, &f, now, &u), 0);
    size_t covered = 0;
    unsigned npacked = 0;
    for (size_t i = 0; i < N_FIELDS; i++) {
        const struct tcb_field *x = &tcb_fields[i];
        const uint8_t *a = (const uint8_t *)&t + x->off, *b = (const uint8_t *)&u + x->off;
        covered += x->size;
        if (x->packed) {
            npacked++;
            if (all_zero(a, x->size))
                fprintf(stderr, "  PACKED field %s has no value in every_field_set\n", x->name);
            CHECK(!all_zero(a, x->size));
            if (memcmp(a, b, x->size))
                fprintf(stderr, "  PACKED field %s does not survive a record\n", x->name);
            CHECK(memcmp(a, b, x->size) == 0);
        } else {
            if (!x->why || !*x->why)
                fprintf(stderr, "  DROPPED field %s says not why\n", x->name);
            CHECK(x->why && *x->why);
            int identity = !strcmp(x->name, "laddr") || !strcmp(x->name, "raddr") ||
                           !strcmp(x->name, "lport") || !strcmp(x->name, "rport");
            if (!identity && !all_zero(b, x->size))
                fprintf(stderr, "  DROPPED field %s not cleared\n", x->name);
            CHECK(identity || all_zero(b, x->size));
        }
    }
    /* the fields cover the struct up to its padding */
    CHECK(covered <= sizeof(struct sl_tcb) && sizeof(struct sl_tcb) - covered < 16);
    printf("     %zu fields: %u packed, %zu dropped (each with its reason); %d bytes packed\n",
           N_FIELDS, npacked, N_FIELDS - npacked, n);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_pack_real_tcbs);
    RUN(test_pack_real_tcbs_2);
    RUN(test_pack_extremes);
    RUN(test_tcb_fields_decided);
    RUN(test_unpack_hostile);
    RUN(test_restore_continues);
    RUN(test_record_roundtrip);
    RUN(test_record_tamper);
    RUN(test_record_inconsistent);
    return check_finish("test_store_record");
}
