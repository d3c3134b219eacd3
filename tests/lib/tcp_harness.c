/* Segment-level test harness for the TCP engine; see tcp_harness.h. */
#include "tcp_harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- harnesses alive in the running case ---------------- */

#define TH_MAX_LIVE 8
static struct th *g_live[TH_MAX_LIVE];

/* After every case (check_on_case_end): the case's harnesses are freed. */
static void th_free_live(void)
{
    for (int i = 0; i < TH_MAX_LIVE; i++) {
        if (g_live[i]) {
            free(g_live[i]->b.snd);
            free(g_live[i]->b.rcv);
            free(g_live[i]);
            g_live[i] = NULL;
        }
    }
}

/* ---------------- configurations ---------------- */

struct sl_tcp_cfg th_cfg(void)
{
    struct sl_tcp_cfg c;
    memset(&c, 0, sizeof(c));
    c.mss = 1460;
    c.sndbuf = 65536;
    c.rcvbuf = 65536;
    c.cc = 0;
    return c;
}

struct th_peer th_peer_full(void)
{
    struct th_peer p = {.mss = 1460, .ws = true, .wscale = 7, .sack = true, .ts = true,
                        .syn_wnd = 65535, .wnd = 1024};
    return p;
}

struct th_peer th_peer_bare(void)
{
    struct th_peer p = {.mss = 0, .ws = false, .wscale = 0, .sack = false, .ts = false,
                        .syn_wnd = 65535, .wnd = 65535};
    return p;
}

struct th *th_new(const struct sl_tcp_cfg *cfg)
{
    struct th *h = calloc(1, sizeof(*h));
    if (!h) {
        perror("calloc");
        exit(2);
    }
    h->cfg = *cfg;
    h->b.snd = calloc(1, cfg->sndbuf);
    h->b.rcv = calloc(1, cfg->rcvbuf);
    if (!h->b.snd || !h->b.rcv) {
        perror("calloc");
        exit(2);
    }
    h->now = TH_T0;
    h->out.ctr = h->ctr;
    h->peer = th_peer_full();
    check_on_case_end(th_free_live);
    int i;
    for (i = 0; i < TH_MAX_LIVE && g_live[i]; i++)
        ;
    if (i == TH_MAX_LIVE) {
        fprintf(stderr, "th_new: too many live harnesses\n");
        exit(2);
    }
    g_live[i] = h;
    return h;
}

/* ---------------- peer segments ---------------- */

/* Peer stream byte at offset i is (i % 251): any offset is a pointer into
 * this buffer, good for up to TH_PAT_MAX bytes. */
#define TH_PAT_MAX (1u << 20)
static uint8_t g_pat[TH_PAT_MAX + 251];
static int g_pat_init;

const uint8_t *th_pattern(uint32_t off)
{
    if (!g_pat_init) {
        for (uint32_t i = 0; i < sizeof(g_pat); i++)
            g_pat[i] = (uint8_t)(i % 251);
        g_pat_init = 1;
    }
    return g_pat + off % 251;
}

uint32_t th_tsval(const struct th *h) { return (uint32_t)(h->now / 1000) + TH_TSOFF; }

struct sl_tcp_seg th_seg(struct th *h, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
    struct sl_tcp_seg s;
    memset(&s, 0, sizeof(s));
    s.sport = TH_RPORT;
    s.dport = TH_LPORT;
    s.seq = seq;
    s.ack = ack;
    s.flags = flags;
    s.doff_bytes = 20;
    s.wnd = (flags & SL_TCP_SYN) ? h->peer.syn_wnd : h->peer.wnd;
    s.len = len;
    if (len) {
        if (len > TH_PAT_MAX) {
            fprintf(stderr, "th_seg: payload too large\n");
            exit(2);
        }
        s.payload = th_pattern(seq - (TH_IRS + 1u));
    }
    if ((h->t.flags & SL_TF_TS_OK) && h->peer.ts) {
        s.opts.has_ts = 1;
        s.opts.tsval = (uint32_t)(h->now / 1000) + TH_PEER_TS0 + (uint32_t)h->peer_ts_skew;
        s.opts.tsecr = h->peer_tsecr;
    }
    return s;
}

struct sl_tcp_seg th_syn(struct th *h, uint8_t flags, uint32_t seq, uint32_t ack)
{
    struct sl_tcp_seg s = th_seg(h, (uint8_t)(flags | SL_TCP_SYN), seq, ack, 0);
    memset(&s.opts, 0, sizeof(s.opts));
    const struct th_peer *p = &h->peer;
    if (p->mss) {
        s.opts.has_mss = 1;
        s.opts.mss = p->mss;
    }
    if (p->ws) {
        s.opts.has_wscale = 1;
        s.opts.wscale = p->wscale;
    }
    s.opts.sack_perm = p->sack;
    if (p->ts) {
        s.opts.has_ts = 1;
        s.opts.tsval = (uint32_t)(h->now / 1000) + TH_PEER_TS0 + (uint32_t)h->peer_ts_skew;
        s.opts.tsecr = (flags & SL_TCP_ACK) ? h->peer_tsecr : 0;
    }
    return s;
}

struct sl_tcp_seg th_data(struct th *h, uint32_t off, uint32_t len)
{
    return th_seg(h, SL_TCP_ACK, TH_RCV(off), h->t.snd_una, len);
}

struct sl_tcp_seg th_ack(struct th *h, uint32_t ack)
{
    return th_seg(h, SL_TCP_ACK, h->t.rcv_nxt, ack, 0);
}

void th_add_sack(struct sl_tcp_seg *s, uint32_t left, uint32_t right)
{
    if (s->opts.nsack < SL_TCP_MAX_SACK) {
        s->opts.sack[s->opts.nsack].left = left;
        s->opts.sack[s->opts.nsack].right = right;
        s->opts.nsack++;
    }
}

/* ---------------- steps ---------------- */

void th_begin(struct th *h)
{
    h->out.n = 0;
    h->out.events = 0;
    memcpy(h->ctr0, h->ctr, sizeof(h->ctr));
}

static void note_tsecr(struct th *h)
{
    for (unsigned i = 0; i < h->out.n; i++)
        if (h->out.seg[i].opts.has_ts)
            h->peer_tsecr = h->out.seg[i].opts.tsval;
}

void th_input_only(struct th *h, const struct sl_tcp_seg *s)
{
    th_begin(h);
    sl_tcp_input(&h->t, &h->b, h->now, s, &h->out);
    note_tsecr(h);
}

void th_input(struct th *h, const struct sl_tcp_seg *s)
{
    th_begin(h);
    sl_tcp_input(&h->t, &h->b, h->now, s, &h->out);
    if (h->t.state != SL_TCP_CLOSED)
        sl_tcp_output(&h->t, &h->b, h->now, &h->out);
    note_tsecr(h);
}

void th_output(struct th *h)
{
    th_begin(h);
    sl_tcp_output(&h->t, &h->b, h->now, &h->out);
    note_tsecr(h);
}

void th_timers(struct th *h)
{
    th_begin(h);
    sl_tcp_timers(&h->t, &h->b, h->now, &h->out);
    note_tsecr(h);
}

uint64_t th_fire(struct th *h)
{
    uint64_t d = sl_tcp_next_deadline(&h->t);
    if (!d) {
        th_begin(h);
        return 0;
    }
    if (d > h->now)
        h->now = d;
    th_timers(h);
    return d;
}

void th_advance(struct th *h, uint64_t us) { h->now += us; }

uint32_t th_write(struct th *h, uint32_t len)
{
    uint32_t done = 0;
    uint8_t buf[4096];
    while (done < len) {
        uint32_t off = h->t.snd_end - (h->t.iss + 1u);
        uint32_t n = len - done < sizeof(buf) ? len - done : (uint32_t)sizeof(buf);
        for (uint32_t i = 0; i < n; i++)
            buf[i] = (uint8_t)((off + i) % 253); /* our stream: offset % 253 */
        uint32_t w = sl_tcp_write(&h->t, &h->b, buf, n);
        done += w;
        if (w < n)
            break;
    }
    return done;
}

void th_queue(struct th *h, uint32_t n) { h->t.snd_end += n; }

uint32_t th_read(struct th *h, uint32_t len)
{
    uint32_t total = 0;
    uint8_t buf[4096];
    while (total < len) {
        uint32_t off = h->t.rcv_read - (h->t.irs + 1u);
        uint32_t want = len - total < sizeof(buf) ? len - total : (uint32_t)sizeof(buf);
        uint32_t n = sl_tcp_read(&h->t, &h->b, buf, want);
        if (n == 0)
            break;
        if (memcmp(buf, th_pattern(off), n) != 0) {
            check_fail(__FILE__, __LINE__, "th_read: received bytes differ from the peer's stream");
            break;
        }
        total += n;
    }
    return total;
}

uint64_t th_ctr(const struct th *h, enum sl_ctr c) { return h->ctr[c] - h->ctr0[c]; }

/* ---------------- handshakes ---------------- */

void th_accept(struct th *h, const struct sl_tcp_seg *syn)
{
    th_begin(h);
    enum sl_ctr v = sl_tcp_listen_check(syn, &h->out);
    CHECK_EQ(v, SL_CTR_ok);
    CHECK_EQ(h->out.n, 0);
    sl_tcp_open_passive(&h->t, &h->cfg, h->now, TH_LADDR, TH_RADDR, syn, TH_ISS, TH_TSOFF,
                        &h->out);
    note_tsecr(h);
}

void th_connect(struct th *h)
{
    th_begin(h);
    sl_tcp_open_active(&h->t, &h->cfg, h->now, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, TH_ISS,
                       TH_TSOFF, &h->out);
    note_tsecr(h);
}

bool th_open_passive(struct th *h, const struct th_peer *p, uint64_t rtt_us)
{
    h->peer = *p;
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_accept(h, &syn);
    bool ok = EXPECT_ONE(h, TH_F_SYN | TH_F_ACK, TH_ISS, TH_IRS + 1, 0);
    CHECK_EQ(h->t.state, SL_TCP_SYN_RCVD);
    h->now += rtt_us;
    struct sl_tcp_seg ack = th_seg(h, SL_TCP_ACK, TH_IRS + 1, TH_ISS + 1, 0);
    th_input(h, &ack);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK(h->out.events & SL_TEV_CONNECTED);
    return ok && h->t.state == SL_TCP_ESTABLISHED;
}

bool th_open_active(struct th *h, const struct th_peer *p, uint64_t rtt_us)
{
    h->peer = *p;
    th_connect(h);
    bool ok = EXPECT_ONE(h, TH_F_SYN, TH_ISS, 0, 0);
    CHECK_EQ(h->t.state, SL_TCP_SYN_SENT);
    h->now += rtt_us;
    struct sl_tcp_seg sa = th_syn(h, SL_TCP_ACK, TH_IRS, TH_ISS + 1);
    th_input(h, &sa);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK(h->out.events & SL_TEV_CONNECTED);
    ok = ok && EXPECT_ONE(h, TH_F_ACK, TH_ISS + 1, TH_IRS + 1, 0);
    return ok && h->t.state == SL_TCP_ESTABLISHED;
}

/* ---------------- segment checks ---------------- */

const char *th_flags_str(uint8_t f, char buf[32])
{
    static const char *const n[8] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
    buf[0] = '\0';
    for (int i = 0; i < 8; i++) {
        if (f & (1u << i)) {
            if (buf[0])
                strcat(buf, "|");
            strcat(buf, n[i]);
        }
    }
    if (!buf[0])
        strcpy(buf, "-");
    return buf;
}

void th_dump(const struct th *h)
{
    fprintf(stderr, "    emitted %u segment(s), events 0x%x, state %s:\n", h->out.n,
            h->out.events, sl_tcp_state_name(h->t.state));
    for (unsigned i = 0; i < h->out.n; i++) {
        const struct sl_tcp_emit *e = &h->out.seg[i];
        char fb[32];
        fprintf(stderr,
                "    [%u] %-12s seq=ISS%+" PRId64 " ack=IRS%+" PRId64 " len=%u wnd=%u gso=%u",
                i, th_flags_str(e->flags, fb), (int64_t)(int32_t)(e->seq - TH_ISS),
                (int64_t)(int32_t)(e->ack - TH_IRS), e->len, e->wnd, e->gso);
        if (e->opts.has_mss)
            fprintf(stderr, " mss=%u", e->opts.mss);
        if (e->opts.has_wscale)
            fprintf(stderr, " ws=%u", e->opts.wscale);
        if (e->opts.sack_perm)
            fprintf(stderr, " sackok");
        if (e->opts.has_ts)
            fprintf(stderr, " ts=%u/%u", e->opts.tsval, e->opts.tsecr);
        for (unsigned k = 0; k < e->opts.nsack; k++)
            fprintf(stderr, " sack[IRS%+" PRId64 ",IRS%+" PRId64 ")",
                    (int64_t)(int32_t)(e->opts.sack[k].left - TH_IRS),
                    (int64_t)(int32_t)(e->opts.sack[k].right - TH_IRS));
        fprintf(stderr, "\n");
    }
}

bool th_expect_nseg(const struct th *h, unsigned n, const char *file, int line)
{
    if (h->out.n == n)
        return true;
    check_fail(file, line, "expected %u segment(s), got %u", n, h->out.n);
    th_dump(h);
    return false;
}

bool th_expect_seg(const struct th *h, unsigned i, uint8_t flags, uint32_t seq, uint32_t ack,
                   uint32_t len, const char *file, int line)
{
    if (i >= h->out.n) {
        check_fail(file, line, "expected segment [%u], only %u emitted", i, h->out.n);
        th_dump(h);
        return false;
    }
    const struct sl_tcp_emit *e = &h->out.seg[i];
    if (e->flags == flags && e->seq == seq && e->ack == ack && e->len == len)
        return true;
    char fw[32], fg[32];
    check_fail(file, line,
            "segment [%u] mismatch\n    want %s seq=ISS%+" PRId64 " ack=IRS%+" PRId64
            " len=%u\n    got  %s seq=ISS%+" PRId64 " ack=IRS%+" PRId64 " len=%u",
            i, th_flags_str(flags, fw),
            (int64_t)(int32_t)(seq - TH_ISS), (int64_t)(int32_t)(ack - TH_IRS), len,
            th_flags_str(e->flags, fg), (int64_t)(int32_t)(e->seq - TH_ISS),
            (int64_t)(int32_t)(e->ack - TH_IRS), e->len);
    th_dump(h);
    return false;
}

bool th_expect_one(const struct th *h, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len,
                   const char *file, int line)
{
    return th_expect_nseg(h, 1, file, line) && th_expect_seg(h, 0, flags, seq, ack, len, file, line);
}
