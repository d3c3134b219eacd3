/* Flow record codec and compact control block; see record.h. */
#include "state/record.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "common/bytes.h"

/* ------------------------------------------------------------------ */
/* compact control block                                               */

/* Packing version 3. Field by field (v = unsigned LEB128 varint, z =
 * zigzag varint of a signed 32-bit difference, u32 = 4 bytes LE):
 *
 *   u8  packing version (3; version 2 ends after err and is read too)
 *   u8  state | cc << 4
 *   v   flags without SL_TF_RTT_VALID
 *   u32 snd_una; v snd_una-iss; v snd_nxt-snd_una; v snd_max-snd_una; v snd_end-snd_una
 *   v   snd_off_hi (high 32 bits of the send stream offset)
 *   v   snd_wnd; v max_snd_wnd; z snd_wl1-rcv_nxt; z snd_wl2-snd_una
 *   u32 rcv_nxt; v rcv_nxt-irs; z rcv_adv-rcv_nxt; v rcv_nxt-rcv_read
 *   u8  log2(snd_bufsz)+1 (0 = 0); u8 log2(rcv_bufsz)+1
 *   v   snd_mss, rcv_mss, peer_mss, path_mss
 *   u8  snd_wscale | rcv_wscale << 4; u8 backoff; u8 dupacks; u8 ka_probes
 *   if SL_TF_TS_OK: u32 ts_recent; v age of ts_recent (ms); u32 TSval at `now`;
 *                   z last_ack_sent-rcv_nxt
 *   v   srtt, rttvar, rto (us)
 *   v   cwnd; v ssthresh+1 (so "infinite" 0xffffffff takes one byte);
 *   z   recover-snd_una; v ca_acked
 *   v   cub_wmax, cub_k_ms, cub_west; v CUBIC epoch age (ms) + 1, 0 = none
 *   z   high_rxt-snd_una; z rxt_mark-snd_una
 *   v64 remaining time + 1 of t_rexmt, t_delack, t_keep (us), 0 = off
 *   v   keepidle_s; v retrans_total; z err
 *   u8  r2; u8 tos; v keepidle_cfg; z ecn_mark-snd_una
 *   u8  route: kind (0 none, 1 LSRR, 2 SSRR) | route_app << 2 | hops << 4;
 *       u32 each hop
 *
 * Rebased, not dropped: every absolute clock value is stored relative to
 * the writer's `now` and rebuilt from the reader's `now`, so a flow moves
 * between processes and hosts with unrelated clocks:
 *   - timers t_rexmt/t_delack/t_keep: remaining time (an overdue timer
 *     fires at once on restore);
 *   - ts_offset: the TSval we would send at `now` is stored; the reader
 *     chooses ts_offset so its TSvals continue from there (they never go
 *     backwards, which the peer's PAWS check requires, RFC 7323 5);
 *   - ts_recent_ms and cub_epoch_ms: stored as ages.
 *
 * What is kept and what is dropped (and why that is safe) is declared
 * with each field in SL_TCB_FIELDS (src/tcp/tcp.h);
 * tests/unit/test_store_record.c holds this codec to it.
 */
#define TCB_PACK_VERSION 3 /* 3: what the application set, the route and ecn_mark follow; 2 read too */
#define TCB_CC_MAX 1 /* enum sl_cc: NEWRENO, CUBIC (include/sltcp/sltcp.h) */
#define TCB_FLAGS_KNOWN 0x7fffffu
#define TCB_FLAGS_DROP SL_TF_RTT_VALID

struct wbuf {
    uint8_t *p;
    size_t n, cap;
    int err;
};

static void w8(struct wbuf *w, uint8_t v)
{
    if (w->n < w->cap)
        w->p[w->n] = v;
    else
        w->err = 1;
    w->n++;
}
static void wv64(struct wbuf *w, uint64_t v)
{
    while (v >= 0x80) {
        w8(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    w8(w, (uint8_t)v);
}
static void wv(struct wbuf *w, uint32_t v) { wv64(w, v); }
static void wz(struct wbuf *w, uint32_t diff)
{
    int32_t s = (int32_t)diff;
    wv(w, ((uint32_t)s << 1) ^ (uint32_t)(s >> 31));
}
static void w32(struct wbuf *w, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        w8(w, (uint8_t)(v >> (8 * i)));
}

struct rbuf {
    const uint8_t *p;
    size_t n, off;
    int err; /* -EMSGSIZE truncated, -EINVAL bad value */
};

static uint8_t r8(struct rbuf *r)
{
    if (r->off >= r->n) {
        if (!r->err)
            r->err = -EMSGSIZE;
        return 0;
    }
    return r->p[r->off++];
}
static uint64_t rv_bits(struct rbuf *r, unsigned bits)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        uint8_t b = r8(r);
        if (r->err)
            return 0;
        if (shift >= 64 || (shift > 0 && (uint64_t)(b & 0x7f) >> (64 - shift) != 0)) {
            r->err = -EINVAL;
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift > 0) { /* over-long encoding: not canonical */
                r->err = -EINVAL;
                return 0;
            }
            break;
        }
    }
    if (bits < 64 && (v >> bits) != 0) {
        r->err = -EINVAL;
        return 0;
    }
    return v;
}
static uint32_t rv(struct rbuf *r) { return (uint32_t)rv_bits(r, 32); }
static uint64_t rv64(struct rbuf *r) { return rv_bits(r, 64); }
static uint32_t rz(struct rbuf *r)
{
    uint32_t u = rv(r);
    return (u >> 1) ^ (uint32_t)-(int32_t)(u & 1);
}
static uint32_t r32(struct rbuf *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)r8(r) << (8 * i);
    return v;
}

static uint8_t log2p1(uint32_t v) /* 0 -> 0, 2^k -> k+1; 0xff = not a power of two */
{
    if (!v)
        return 0;
    if (v & (v - 1))
        return 0xff;
    uint8_t k = 0;
    while ((1u << k) != v)
        k++;
    return (uint8_t)(k + 1);
}

/* Remaining time + 1 (0 = off), at most 2^62 us (146,000 years): a
 * deadline further out is kept as "very far", never wrapped around. */
#define TIMER_REL_MAX (1ull << 62)
static uint64_t timer_rel(uint64_t deadline, uint64_t now)
{
    if (!deadline)
        return 0;
    uint64_t rem = deadline > now ? deadline - now : 0;
    return rem >= TIMER_REL_MAX ? TIMER_REL_MAX : rem + 1;
}
static uint64_t timer_abs(uint64_t rel, uint64_t now)
{
    if (!rel)
        return 0;
    if (rel - 1 > UINT64_MAX - now)
        return UINT64_MAX; /* saturate */
    uint64_t d = now + (rel - 1);
    return d ? d : 1;
}

int sl_tcb_pack(const struct sl_tcb *t, uint64_t now_us, uint8_t *out, size_t cap)
{
    struct wbuf w = {out, 0, cap, 0};
    uint32_t now_ms = (uint32_t)(now_us / 1000);
    uint8_t lsb = log2p1(t->snd_bufsz), lrb = log2p1(t->rcv_bufsz);
    if (lsb == 0xff || lrb == 0xff || lsb > 31 || lrb > 31 || t->state >= SL_TCP__NSTATES ||
        t->cc > TCB_CC_MAX || t->snd_wscale > 14 || t->rcv_wscale > 14 ||
        (t->flags & ~TCB_FLAGS_KNOWN) || t->err < -4095 || t->err > 0 || t->route_app > 1 ||
        (t->route.type != 0 && t->route.type != SL_IPOPT_LSRR && t->route.type != SL_IPOPT_SSRR) ||
        (t->route.type ? t->route.n < 1 || t->route.n > SL_SRCROUTE_MAX : t->route.n != 0))
        return -EINVAL;

    w8(&w, TCB_PACK_VERSION);
    w8(&w, (uint8_t)(t->state | t->cc << 4));
    wv(&w, t->flags & ~(uint32_t)TCB_FLAGS_DROP);

    w32(&w, t->snd_una);
    wv(&w, t->snd_una - t->iss);
    wv(&w, t->snd_nxt - t->snd_una);
    wv(&w, t->snd_max - t->snd_una);
    wv(&w, t->snd_end - t->snd_una);
    wv(&w, t->snd_off_hi);
    wv(&w, t->snd_wnd);
    wv(&w, t->max_snd_wnd);
    wz(&w, t->snd_wl1 - t->rcv_nxt);
    wz(&w, t->snd_wl2 - t->snd_una);

    w32(&w, t->rcv_nxt);
    wv(&w, t->rcv_nxt - t->irs);
    wz(&w, t->rcv_adv - t->rcv_nxt);
    wv(&w, t->rcv_nxt - t->rcv_read);

    w8(&w, lsb);
    w8(&w, lrb);
    wv(&w, t->snd_mss);
    wv(&w, t->rcv_mss);
    wv(&w, t->peer_mss);
    wv(&w, t->path_mss);
    w8(&w, (uint8_t)(t->snd_wscale | t->rcv_wscale << 4));
    w8(&w, t->backoff);
    w8(&w, t->dupacks);
    w8(&w, t->ka_probes);

    if (t->flags & SL_TF_TS_OK) {
        w32(&w, t->ts_recent);
        wv(&w, now_ms - t->ts_recent_ms);
        w32(&w, now_ms + t->ts_offset); /* tcp_ts_now() */
        wz(&w, t->last_ack_sent - t->rcv_nxt);
    }
    if (t->flags & SL_TF_RCV_URG) /* urgent pointers only while in use */
        wz(&w, t->rcv_up - t->rcv_nxt);
    if (t->flags & SL_TF_SND_URG)
        wz(&w, t->snd_up - t->snd_una);

    wv(&w, t->srtt);
    wv(&w, t->rttvar);
    wv(&w, t->rto);

    wv(&w, t->cwnd);
    wv(&w, t->ssthresh + 1u);
    wz(&w, t->recover - t->snd_una);
    wv(&w, t->ca_acked);
    wv(&w, t->cub_wmax);
    wv(&w, t->cub_k_ms);
    wv(&w, t->cub_west);
    wv(&w, t->cub_epoch_ms ? (now_ms - t->cub_epoch_ms) + 1u : 0);

    wz(&w, t->high_rxt - t->snd_una);
    wz(&w, t->rxt_mark - t->snd_una);

    wv64(&w, timer_rel(t->t_rexmt, now_us));
    wv64(&w, timer_rel(t->t_delack, now_us));
    wv64(&w, timer_rel(t->t_keep, now_us));

    wv(&w, t->keepidle_s);
    wv(&w, t->retrans_total);
    wz(&w, (uint32_t)(int32_t)t->err);

    /* version 3: what the application set (SL_OPT_RETRIES, SL_OPT_TOS,
     * SL_OPT_KEEPIDLE) and the source route (RFC 9293 3.9.2.1) */
    w8(&w, t->r2);
    w8(&w, t->tos);
    wv(&w, t->keepidle_cfg);
    wz(&w, t->ecn_mark - t->snd_una);
    w8(&w, (uint8_t)((t->route.type == SL_IPOPT_SSRR ? 2 : t->route.type ? 1 : 0) |
                     (t->route_app ? 4 : 0) | t->route.n << 4));
    for (unsigned i = 0; i < t->route.n; i++)
        w32(&w, t->route.hop[i]);

    if (w.err)
        return -ENOBUFS;
    return (int)w.n;
}

int sl_tcb_unpack(const uint8_t *in, size_t len, const struct sl_flow *flow, uint64_t now_us,
                  struct sl_tcb *t)
{
    struct rbuf r = {in, len, 0, 0};
    uint32_t now_ms = (uint32_t)(now_us / 1000);
    struct sl_tcb x;
    memset(&x, 0, sizeof(x));

    uint8_t ver = r8(&r);
    if (r.err)
        return r.err;
    if (ver != TCB_PACK_VERSION && ver != 2)
        return -EPROTONOSUPPORT;
    if (flow) {
        x.laddr = flow->laddr;
        x.raddr = flow->raddr;
        x.lport = flow->lport;
        x.rport = flow->rport;
    }
    uint8_t sc = r8(&r);
    x.state = sc & 15;
    x.cc = sc >> 4;
    x.flags = rv(&r);

    x.snd_una = r32(&r);
    x.iss = x.snd_una - rv(&r);
    x.snd_nxt = x.snd_una + rv(&r);
    x.snd_max = x.snd_una + rv(&r);
    x.snd_end = x.snd_una + rv(&r);
    x.snd_off_hi = rv(&r);
    x.snd_wnd = rv(&r);
    x.max_snd_wnd = rv(&r);
    uint32_t wl1 = rz(&r), wl2 = rz(&r);

    x.rcv_nxt = r32(&r);
    x.snd_wl1 = x.rcv_nxt + wl1;
    x.snd_wl2 = x.snd_una + wl2;
    x.irs = x.rcv_nxt - rv(&r);
    x.rcv_adv = x.rcv_nxt + rz(&r);
    x.rcv_read = x.rcv_nxt - rv(&r);

    uint8_t lsb = r8(&r), lrb = r8(&r);
    uint32_t mss[4];
    for (int i = 0; i < 4; i++)
        mss[i] = rv(&r);
    uint8_t ws = r8(&r);
    x.backoff = r8(&r);
    x.dupacks = r8(&r);
    x.ka_probes = r8(&r);

    if (x.flags & SL_TF_TS_OK) {
        x.ts_recent = r32(&r);
        x.ts_recent_ms = now_ms - rv(&r);
        x.ts_offset = r32(&r) - now_ms;
        x.last_ack_sent = x.rcv_nxt + rz(&r);
    } else {
        x.last_ack_sent = x.rcv_nxt;
    }
    if (x.flags & SL_TF_RCV_URG)
        x.rcv_up = x.rcv_nxt + rz(&r);
    if (x.flags & SL_TF_SND_URG)
        x.snd_up = x.snd_una + rz(&r);

    x.srtt = rv(&r);
    x.rttvar = rv(&r);
    x.rto = rv(&r);

    x.cwnd = rv(&r);
    x.ssthresh = rv(&r) - 1u;
    x.recover = x.snd_una + rz(&r);
    x.ca_acked = rv(&r);
    x.cub_wmax = rv(&r);
    x.cub_k_ms = rv(&r);
    x.cub_west = rv(&r);
    uint32_t cub_age = rv(&r);
    if (cub_age) {
        x.cub_epoch_ms = now_ms - (cub_age - 1u);
        if (!x.cub_epoch_ms)
            x.cub_epoch_ms = (uint32_t)-1; /* 0 means "no epoch": off by 1 ms */
    }

    x.high_rxt = x.snd_una + rz(&r);
    x.rxt_mark = x.snd_una + rz(&r);

    x.t_rexmt = timer_abs(rv64(&r), now_us);
    x.t_delack = timer_abs(rv64(&r), now_us);
    x.t_keep = timer_abs(rv64(&r), now_us);

    x.keepidle_s = rv(&r);
    x.retrans_total = rv(&r);
    int32_t err = (int32_t)rz(&r);

    uint8_t rb = 0;
    if (ver >= 3) {
        x.r2 = r8(&r);
        x.tos = r8(&r);
        x.keepidle_cfg = rv(&r);
        x.ecn_mark = x.snd_una + rz(&r);
        rb = r8(&r);
        unsigned kind = rb & 3u, n = rb >> 4;
        if (kind == 3 || (rb & 8u) || (kind ? n < 1 || n > SL_SRCROUTE_MAX : n != 0)) {
            if (!r.err)
                r.err = -EINVAL;
        } else {
            x.route.type = kind == 2 ? SL_IPOPT_SSRR : kind == 1 ? SL_IPOPT_LSRR : 0;
            x.route.n = (uint8_t)n;
            x.route_app = (rb & 4u) != 0;
            for (unsigned i = 0; i < n; i++)
                x.route.hop[i] = r32(&r);
        }
    } else {
        x.keepidle_cfg = SL_TCP_KEEPIDLE_DEFAULT_S; /* version 2 kept none of them */
    }

    if (r.err)
        return r.err;
    if (r.off != len)
        return -EMSGSIZE;
    /* Values a real tcb never has. */
    if (x.state >= SL_TCP__NSTATES || x.cc > TCB_CC_MAX || (x.flags & ~TCB_FLAGS_KNOWN) ||
        (x.flags & TCB_FLAGS_DROP) || lsb > 31 || lrb > 31 || (ws & 15) > 14 || (ws >> 4) > 14 ||
        err < -4095 || err > 0)
        return -EINVAL;
    for (int i = 0; i < 4; i++)
        if (mss[i] > 0xffff)
            return -EINVAL;
    x.snd_bufsz = lsb ? 1u << (lsb - 1) : 0;
    x.rcv_bufsz = lrb ? 1u << (lrb - 1) : 0;
    x.snd_mss = (uint16_t)mss[0];
    x.rcv_mss = (uint16_t)mss[1];
    x.peer_mss = (uint16_t)mss[2];
    x.path_mss = (uint16_t)mss[3];
    x.snd_wscale = ws & 15;
    x.rcv_wscale = ws >> 4;
    x.err = (int16_t)err;
    *t = x;
    return 0;
}

/* ------------------------------------------------------------------ */
/* records                                                             */

struct sl_rec_bytes sl_rec_flat(const void *p, uint32_t len)
{
    struct sl_rec_bytes b = {{p, NULL}, {len, 0}};
    if (!len)
        b.p[0] = NULL;
    return b;
}

struct sl_rec_bytes sl_rec_ring(const uint8_t *ring, uint32_t size, uint32_t seq, uint32_t len)
{
    struct sl_rec_bytes b = {{NULL, NULL}, {0, 0}};
    if (!len || !size || len > size)
        return b;
    uint32_t idx = seq & (size - 1);
    uint32_t first = size - idx < len ? size - idx : len;
    b.p[0] = ring + idx;
    b.n[0] = first;
    if (first < len) {
        b.p[1] = ring;
        b.n[1] = len - first;
    }
    return b;
}

static uint64_t bytes_len(const struct sl_rec_bytes *b) { return (uint64_t)b->n[0] + b->n[1]; }

ssize_t sl_record_size(const struct sl_record_in *in)
{
    uint8_t tmp[SL_TCB_PACKED_MAX];
    int tl = sl_tcb_pack(in->tcb, in->now_us, tmp, sizeof(tmp));
    if (tl < 0)
        return tl == -ENOBUFS ? -EMSGSIZE : tl;
    uint64_t s = bytes_len(&in->snd), r = bytes_len(&in->rcv);
    if (s > SL_REC_MAX_STREAM || r > SL_REC_MAX_STREAM || in->ckpt_len > SL_REC_MAX_CKPT)
        return -EMSGSIZE;
    return (ssize_t)(SL_REC_HDR_LEN + (uint64_t)tl + s + r + in->ckpt_len + SL_REC_MAC_LEN);
}

static uint8_t *put_bytes(uint8_t *p, const struct sl_rec_bytes *b)
{
    for (int i = 0; i < 2; i++) {
        if (b->n[i]) {
            memcpy(p, b->p[i], b->n[i]);
            p += b->n[i];
        }
    }
    return p;
}

ssize_t sl_record_encode(const struct sl_record_in *in, const uint8_t key[SL_REC_KEY_LEN],
                         uint8_t *out, size_t cap)
{
    uint8_t tcb[SL_TCB_PACKED_MAX];
    if (!in || !in->tcb || !key || (in->ckpt_len && !in->ckpt))
        return -EINVAL;
    int tl = sl_tcb_pack(in->tcb, in->now_us, tcb, sizeof(tcb));
    if (tl < 0)
        return tl == -ENOBUFS ? -EMSGSIZE : tl;
    uint64_t s = bytes_len(&in->snd), r = bytes_len(&in->rcv);
    if (s > SL_REC_MAX_STREAM || r > SL_REC_MAX_STREAM || in->ckpt_len > SL_REC_MAX_CKPT)
        return -EMSGSIZE;
    uint64_t total = SL_REC_HDR_LEN + (uint64_t)tl + s + r + in->ckpt_len + SL_REC_MAC_LEN;
    if (total > cap)
        return -ENOBUFS;

    const struct sl_tcb *t = in->tcb;
    uint8_t *p = out;
    sl_put_le32(p, SL_REC_MAGIC);
    p[4] = SL_REC_VERSION;
    p[5] = 0;
    p[6] = (uint8_t)tl;
    p[7] = (uint8_t)(tl >> 8);
    sl_put_le32(p + 8, t->laddr);
    sl_put_le32(p + 12, t->raddr);
    sl_put_le16(p + 16, t->lport);
    sl_put_le16(p + 18, t->rport);
    sl_put_le64(p + 20, in->epoch);
    sl_put_le64(p + 28, in->gen);
    sl_put_le32(p + 36, in->snd_seq);
    sl_put_le32(p + 40, (uint32_t)s);
    sl_put_le32(p + 44, in->rcv_seq);
    sl_put_le32(p + 48, (uint32_t)r);
    sl_put_le32(p + 52, in->ckpt_len);
    p += SL_REC_HDR_LEN;
    memcpy(p, tcb, (size_t)tl);
    p += tl;
    p = put_bytes(p, &in->snd);
    p = put_bytes(p, &in->rcv);
    if (in->ckpt_len) {
        memcpy(p, in->ckpt, in->ckpt_len);
        p += in->ckpt_len;
    }
    crypto_auth(p, out, (unsigned long long)(p - out), key);
    return (ssize_t)total;
}

/* Header checks shared by decode and peek. On success *tl etc. hold the
 * part lengths and the total matches len exactly. */
static int check_header(const uint8_t *buf, size_t len, uint32_t *tl, uint32_t *sl, uint32_t *rl,
                        uint32_t *cl)
{
    if (!buf || len < SL_REC_HDR_LEN + SL_REC_MAC_LEN) {
        /* Too short to hold a header: still tell "not a record" apart. */
        if (buf && len >= 4 && sl_get_le32(buf) != SL_REC_MAGIC)
            return -ENOMSG;
        return -EMSGSIZE;
    }
    if (sl_get_le32(buf) != SL_REC_MAGIC)
        return -ENOMSG;
    if (buf[4] != SL_REC_VERSION || buf[5] != 0)
        return -EPROTONOSUPPORT;
    *tl = buf[6] | (uint32_t)buf[7] << 8;
    *sl = sl_get_le32(buf + 40);
    *rl = sl_get_le32(buf + 48);
    *cl = sl_get_le32(buf + 52);
    if (*tl == 0 || *tl > SL_TCB_PACKED_MAX || *sl > SL_REC_MAX_STREAM ||
        *rl > SL_REC_MAX_STREAM || *cl > SL_REC_MAX_CKPT)
        return -EMSGSIZE;
    uint64_t total = SL_REC_HDR_LEN + (uint64_t)*tl + *sl + *rl + *cl + SL_REC_MAC_LEN;
    if (total != len)
        return -EMSGSIZE;
    return 0;
}

int sl_record_peek(const uint8_t *buf, size_t len, struct sl_flow *flow, uint64_t *epoch)
{
    uint32_t tl, sl, rl, cl;
    int rc = check_header(buf, len, &tl, &sl, &rl, &cl);
    if (rc)
        return rc;
    if (flow) {
        flow->laddr = sl_get_le32(buf + 8);
        flow->raddr = sl_get_le32(buf + 12);
        flow->lport = sl_get_le16(buf + 16);
        flow->rport = sl_get_le16(buf + 18);
    }
    if (epoch)
        *epoch = sl_get_le64(buf + 20);
    return 0;
}

int sl_record_decode(const uint8_t *buf, size_t len, const uint8_t key[SL_REC_KEY_LEN],
                     const struct sl_flow *expect, uint64_t now_us, struct sl_record *r)
{
    uint32_t tl, sl, rl, cl;
    int rc = check_header(buf, len, &tl, &sl, &rl, &cl);
    if (rc)
        return rc;
    /* Authenticate before interpreting anything beyond the lengths. */
    if (crypto_auth_verify(buf + len - SL_REC_MAC_LEN, buf,
                           (unsigned long long)(len - SL_REC_MAC_LEN), key) != 0)
        return -EBADMSG;

    struct sl_record x;
    memset(&x, 0, sizeof(x));
    x.flow.laddr = sl_get_le32(buf + 8);
    x.flow.raddr = sl_get_le32(buf + 12);
    x.flow.lport = sl_get_le16(buf + 16);
    x.flow.rport = sl_get_le16(buf + 18);
    if (expect && (expect->laddr != x.flow.laddr || expect->raddr != x.flow.raddr ||
                   expect->lport != x.flow.lport || expect->rport != x.flow.rport))
        return -EXDEV;
    x.epoch = sl_get_le64(buf + 20);
    x.gen = sl_get_le64(buf + 28);
    x.snd_seq = sl_get_le32(buf + 36);
    x.snd_len = sl;
    x.rcv_seq = sl_get_le32(buf + 44);
    x.rcv_len = rl;
    x.ckpt_len = cl;
    x.tcb_len = tl;
    const uint8_t *p = buf + SL_REC_HDR_LEN;
    rc = sl_tcb_unpack(p, tl, &x.flow, now_us, &x.tcb);
    if (rc)
        return -EINVAL;
    p += tl;
    x.snd = sl ? p : NULL;
    p += sl;
    x.rcv = rl ? p : NULL;
    p += rl;
    x.ckpt = cl ? p : NULL;

    /* The streams must sit where the tcb says they can:
     *   send bytes inside [snd_una, snd_end], at most one ring;
     *   receive bytes ending at or before rcv_nxt (minus a consumed FIN),
     *   inside one ring below it. */
    const struct sl_tcb *t = &x.tcb;
    uint32_t rcv_end = t->rcv_nxt - ((t->flags & SL_TF_FIN_RCVD) ? 1u : 0u);
    if (sl > t->snd_bufsz || rl > t->rcv_bufsz)
        return -EINVAL;
    if (sl && (sl_seq_lt(x.snd_seq, t->snd_una) || sl_seq_gt(x.snd_seq + sl, t->snd_end)))
        return -EINVAL;
    if (rl && (sl_seq_gt(x.rcv_seq + rl, rcv_end) ||
               sl_seq_lt(x.rcv_seq, rcv_end - t->rcv_bufsz)))
        return -EINVAL;
    *r = x;
    return 0;
}
