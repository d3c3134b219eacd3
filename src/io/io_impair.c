/* Impairment wrapper: loss, duplication, reordering and delay on top of
 * any backend, in both directions, deterministic for a given seed.
 *
 * Spec: comma-separated key=value, any subset, e.g.
 *   "loss=1.5,dup=0.1,reorder=2,delay=20,seed=42"
 *   loss, dup, reorder  percent 0..100 (fractional ok)
 *   delay               milliseconds >= 0 (fractional ok), constant
 *   ce                  percent 0..100: IPv4 packets whose ECN field is ECT(0)
 *                       or ECT(1) are marked CE (Congestion Experienced,
 *                       RFC 3168 5), as a congested AQM router would
 *   seed                unsigned integer (decimal or 0x hex), default 1
 * Unknown key, empty item or bad value -> -EINVAL and a message in err;
 * `inner` is then NOT destroyed (the caller still owns it). On success the
 * wrapper owns `inner` and destroys it in destroy().
 *
 * Every frame, in each direction, goes through the same pipeline, per
 * frame as given (a GSO super-frame is one frame):
 *   1. loss:    dropped with probability loss%          -> impair_dropped
 *      ce:      a surviving ECT packet is marked CE with probability ce%
 *               (header checksum updated, RFC 1624)     -> impair_ce_marked
 *   2. dup:     a second copy follows it, prob. dup%     -> impair_duplicated
 *   3. reorder: each copy is held back with prob. reorder% and released
 *               right after 1..3 later frames have passed this stage, or
 *               after 2 ms (clock) if no traffic follows -> impair_reordered
 *               (counted when held; at most 64 held per direction, beyond
 *               that frames are not reordered)
 *   4. delay:   every frame waits `delay` ms (FIFO) -> impair_delayed;
 *               at most 65536 frames per direction wait, beyond that they
 *               are dropped and counted as impair_dropped
 * Decisions come from a splitmix64 stream per direction (rx stream seeded
 * from seed, tx from a derived value), one draw per enabled impairment per
 * frame, so a given seed and frame sequence always give the same result.
 *
 * Held frames are copies (malloc'd). Due frames are released on the next
 * rx_burst (both directions) or tx_flush (tx). poll_fd() is an epoll fd
 * that combines the inner fd with a timerfd armed for the next due frame,
 * so an event loop sleeping in poll wakes up to release it (if the inner
 * poll_fd is -1, so is ours: the loop spins anyway). The timerfd runs on
 * CLOCK_MONOTONIC and is armed with (due - clock()), so it is only
 * meaningful when the clock callback is a real microsecond clock.
 *
 * rx_burst returns at most `max` frames; extra frames produced in the same
 * call (duplicates, releases) wait in a ready queue for the next call (the
 * call that produced them returned exactly `max`).
 * TX: tx_alloc hands out a private staging buffer; tx_commit runs the
 * pipeline and copies surviving frames into the inner backend
 * (tx_alloc/tx_commit), keeping the sl_tx_meta. The wrapper advertises the
 * inner mac, mtu, max_frame, max_gso and csum_offload unchanged.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/kv.h"
#include "io/io.h"

#define IMP_REORDER_MAX 64
#define IMP_REORDER_HOLD_US 2000u
#define IMP_DELAY_MAX 65536u

struct imp_frame {
    uint8_t *data; /* owned copy, or borrowed view (see callers) */
    uint32_t len;
    uint32_t flags;
    struct sl_tx_meta meta;
    uint64_t due;   /* delay: release time; reorder: deadline */
    uint32_t after; /* reorder: frames still to pass before release */
};

/* FIFO of owned frames, growable. */
struct imp_fifo {
    struct imp_frame *v;
    size_t head, n, cap;
};

struct imp_dir {
    uint64_t rng;
    struct imp_frame reo[IMP_REORDER_MAX]; /* held for reordering, oldest first */
    int nreo;
    struct imp_fifo delay;
};

struct imp_io {
    struct sl_io io;
    struct sl_io *inner;
    double loss, dup, reorder, ce; /* percent */
    uint64_t delay_us;
    sl_clock_fn clock;
    void *clock_arg;
    struct imp_dir rx, tx;

    /* rx output of the current rx_burst */
    struct sl_frame *out;
    int out_n, out_max;
    struct imp_fifo ready;   /* owned frames waiting for the next rx_burst */
    uint8_t **delivered;     /* owned buffers handed out by the last rx_burst */
    size_t ndelivered, cap_delivered;
    struct sl_frame *tmp;    /* inner rx_burst scratch */
    int tmp_cap;

    uint8_t *tx_buf;
    int tx_allocated;

    int epfd, tfd;
    int armed;
    uint64_t armed_due;

    uint64_t ctr_local[SL_CTR__COUNT];
};

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* true with probability pct percent */
static int chance(struct imp_dir *d, double pct)
{
    double u = (double)(splitmix64(&d->rng) >> 11) * (100.0 / 9007199254740992.0);
    return u < pct;
}

static uint64_t monotonic_us(void *arg)
{
    (void)arg;
    return sl_clock_us();
}

static inline uint64_t imp_now(struct imp_io *m)
{
    return m->clock(m->clock_arg);
}

/* Keep the inner backend on the counter array the stack gave us. */
static inline void imp_sync_ctr(struct imp_io *m)
{
    m->inner->ctr = m->io.ctr;
}

/* ---- owned frame helpers ------------------------------------------------ */

static int frame_copy(struct imp_frame *dst, const struct imp_frame *src)
{
    *dst = *src;
    dst->data = malloc(src->len ? src->len : 1);
    if (!dst->data)
        return -ENOMEM;
    memcpy(dst->data, src->data, src->len);
    return 0;
}

static int fifo_push(struct imp_fifo *q, const struct imp_frame *f)
{
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 64;
        struct imp_frame *nv = malloc(ncap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        for (size_t i = 0; i < q->n; i++)
            nv[i] = q->v[(q->head + i) % q->cap];
        free(q->v);
        q->v = nv;
        q->head = 0;
        q->cap = ncap;
    }
    q->v[(q->head + q->n) % q->cap] = *f;
    q->n++;
    return 0;
}

static inline struct imp_frame *fifo_front(struct imp_fifo *q)
{
    return q->n ? &q->v[q->head] : NULL;
}

static inline void fifo_pop(struct imp_fifo *q)
{
    q->head = (q->head + 1) % q->cap;
    q->n--;
}

static void fifo_free(struct imp_fifo *q)
{
    while (q->n) {
        free(fifo_front(q)->data);
        fifo_pop(q);
    }
    free(q->v);
    q->v = NULL;
    q->cap = 0;
}

/* ---- sinks --------------------------------------------------------------- */

static int deliver_track(struct imp_io *m, uint8_t *buf)
{
    if (m->ndelivered == m->cap_delivered) {
        size_t ncap = m->cap_delivered ? m->cap_delivered * 2 : 64;
        uint8_t **nv = realloc(m->delivered, ncap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        m->delivered = nv;
        m->cap_delivered = ncap;
    }
    m->delivered[m->ndelivered++] = buf;
    return 0;
}

/* RX sink: into the caller's array, or the ready queue when it is full.
 * `owned` frames pass ownership; borrowed ones are copied if they must
 * outlive this call. */
static void rx_sink(struct imp_io *m, struct imp_frame *f, int owned)
{
    if (m->out_n < m->out_max && (!owned || deliver_track(m, f->data) == 0)) {
        struct sl_frame *o = &m->out[m->out_n++];
        o->data = f->data;
        o->len = f->len;
        o->flags = f->flags;
        return;
    }
    struct imp_frame c;
    if (owned) {
        c = *f;
    } else if (frame_copy(&c, f) != 0) {
        sl_io_ctr_add(&m->io, SL_CTR_impair_dropped, 1); /* out of memory */
        return;
    }
    if (fifo_push(&m->ready, &c) != 0) {
        free(c.data);
        sl_io_ctr_add(&m->io, SL_CTR_impair_dropped, 1);
    }
}

/* TX sink: copy into the inner backend. */
static int tx_sink(struct imp_io *m, struct imp_frame *f, int owned)
{
    struct sl_io *in = m->inner;
    int rc = 0;
    uint8_t *buf = in->ops->tx_alloc(in, f->len);
    if (!buf) {
        rc = -ENOBUFS; /* inner counted it */
    } else {
        memcpy(buf, f->data, f->len);
        const struct sl_tx_meta *meta =
            (f->meta.gso_size || f->meta.csum_partial) ? &f->meta : NULL;
        rc = in->ops->tx_commit(in, f->len, meta);
    }
    if (owned)
        free(f->data);
    return rc;
}

static int sink(struct imp_io *m, struct imp_dir *d, struct imp_frame *f, int owned)
{
    if (d == &m->rx) {
        rx_sink(m, f, owned);
        return 0;
    }
    return tx_sink(m, f, owned);
}

/* ---- pipeline ------------------------------------------------------------ */

static int delay_stage(struct imp_io *m, struct imp_dir *d, struct imp_frame *f, int owned,
                       uint64_t now)
{
    if (!m->delay_us)
        return sink(m, d, f, owned);
    if (d->delay.n >= IMP_DELAY_MAX) {
        sl_io_ctr_add(&m->io, SL_CTR_impair_dropped, 1);
        if (owned)
            free(f->data);
        return 0;
    }
    struct imp_frame c;
    if (owned)
        c = *f;
    else if (frame_copy(&c, f) != 0) {
        sl_io_ctr_add(&m->io, SL_CTR_impair_dropped, 1);
        return 0;
    }
    c.due = now + m->delay_us;
    if (fifo_push(&d->delay, &c) != 0) {
        free(c.data);
        sl_io_ctr_add(&m->io, SL_CTR_impair_dropped, 1);
        return 0;
    }
    sl_io_ctr_add(&m->io, SL_CTR_impair_delayed, 1);
    return 0;
}

static void reo_remove(struct imp_dir *d, int i)
{
    memmove(&d->reo[i], &d->reo[i + 1], (size_t)(d->nreo - i - 1) * sizeof(d->reo[0]));
    d->nreo--;
}

static int reorder_stage(struct imp_io *m, struct imp_dir *d, struct imp_frame *f, int owned,
                         uint64_t now)
{
    if (m->reorder > 0 && d->nreo < IMP_REORDER_MAX && chance(d, m->reorder)) {
        struct imp_frame *h = &d->reo[d->nreo];
        if (owned)
            *h = *f;
        else if (frame_copy(h, f) != 0)
            goto pass; /* no memory: just don't reorder it */
        h->after = 1 + (uint32_t)(splitmix64(&d->rng) % 3);
        h->due = now + IMP_REORDER_HOLD_US;
        d->nreo++;
        sl_io_ctr_add(&m->io, SL_CTR_impair_reordered, 1);
        return 0;
    }
pass:;
    int rc = delay_stage(m, d, f, owned, now);
    /* This frame overtook the held ones; release those whose turn came. */
    for (int i = 0; i < d->nreo;) {
        if (--d->reo[i].after == 0) {
            struct imp_frame h = d->reo[i];
            reo_remove(d, i);
            delay_stage(m, d, &h, 1, now);
        } else {
            i++;
        }
    }
    return rc;
}

/* ce: an IPv4 packet (untagged Ethernet) whose ECN field is ECT(0) or
 * ECT(1) becomes CE (RFC 3168 5), in place; the header checksum is updated
 * incrementally (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')). */
static void ce_stage(struct imp_io *m, struct imp_dir *d, struct imp_frame *f)
{
    if (!chance(d, m->ce))
        return;
    uint8_t *ip = f->data + 14;
    if (f->len < 14 + 20 || f->data[12] != 0x08 || f->data[13] != 0x00 || (ip[0] >> 4) != 4)
        return;
    uint8_t old = ip[1];
    if ((old & 3) == 0 || (old & 3) == 3)
        return; /* Not-ECT, or already CE */
    ip[1] = old | 3;
    uint32_t sum = (uint16_t)~(ip[10] << 8 | ip[11]);
    sum += (uint16_t)~(ip[0] << 8 | old);
    sum += (uint32_t)(ip[0] << 8 | ip[1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    ip[10] = (uint8_t)(~sum >> 8);
    ip[11] = (uint8_t)~sum;
    sl_io_ctr_add(&m->io, SL_CTR_impair_ce_marked, 1);
}

/* Run one frame (borrowed) through loss -> ce -> dup -> reorder -> delay -> sink. */
static int pipeline(struct imp_io *m, struct imp_dir *d, struct imp_frame *f, uint64_t now)
{
    if (m->loss > 0 && chance(d, m->loss)) {
        sl_io_ctr_add(&m->io, SL_CTR_impair_dropped, 1);
        return 0;
    }
    if (m->ce > 0)
        ce_stage(m, d, f);
    int dup = m->dup > 0 && chance(d, m->dup);
    struct imp_frame second;
    int have_second = 0;
    if (dup) {
        /* the duplicate is its own copy: receivers may edit frames in place */
        if (frame_copy(&second, f) == 0) {
            have_second = 1;
            sl_io_ctr_add(&m->io, SL_CTR_impair_duplicated, 1);
        }
    }
    int rc = reorder_stage(m, d, f, 0, now);
    if (have_second)
        reorder_stage(m, d, &second, 1, now);
    return rc;
}

/* Release frames that are due: reorder holds past their deadline go on to
 * the delay stage, delayed frames past their time go to the sink. Returns
 * the number of frames that reached the sink. */
static int pump(struct imp_io *m, struct imp_dir *d, uint64_t now)
{
    int sunk = 0;
    for (int i = 0; i < d->nreo;) {
        if (d->reo[i].due <= now) {
            struct imp_frame h = d->reo[i];
            reo_remove(d, i);
            if (!m->delay_us)
                sunk++;
            delay_stage(m, d, &h, 1, now);
        } else {
            i++;
        }
    }
    struct imp_frame *f;
    while ((f = fifo_front(&d->delay)) && f->due <= now) {
        struct imp_frame h = *f;
        fifo_pop(&d->delay);
        sink(m, d, &h, 1);
        sunk++;
    }
    return sunk;
}

/* ---- wake-up timer -------------------------------------------------------- */

static void imp_rearm(struct imp_io *m, uint64_t now)
{
    if (m->tfd < 0)
        return;
    uint64_t due = UINT64_MAX;
    if (m->ready.n)
        due = now;
    struct imp_dir *dirs[2] = {&m->rx, &m->tx};
    for (int k = 0; k < 2; k++) {
        struct imp_dir *d = dirs[k];
        for (int i = 0; i < d->nreo; i++)
            if (d->reo[i].due < due)
                due = d->reo[i].due;
        struct imp_frame *f = fifo_front(&d->delay);
        if (f && f->due < due)
            due = f->due;
    }
    /* An armed timer whose time has passed may have fired: its readiness
     * is only cleared by timerfd_settime (or a read), so always re-set it. */
    int stale = m->armed && now >= m->armed_due;
    if (due == UINT64_MAX) {
        if (m->armed) {
            struct itimerspec its;
            memset(&its, 0, sizeof(its));
            timerfd_settime(m->tfd, 0, &its, NULL);
            m->armed = 0;
        }
        return;
    }
    if (m->armed && !stale && m->armed_due == due)
        return;
    uint64_t rel_us = due > now ? due - now : 0;
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)(rel_us / 1000000u);
    its.it_value.tv_nsec = (long)(rel_us % 1000000u) * 1000 + 1; /* never 0 (= disarm) */
    timerfd_settime(m->tfd, 0, &its, NULL);
    m->armed = 1;
    m->armed_due = due;
}

/* ---- ops ------------------------------------------------------------------ */

static void imp_free_delivered(struct imp_io *m)
{
    for (size_t i = 0; i < m->ndelivered; i++)
        free(m->delivered[i]);
    m->ndelivered = 0;
}

static void imp_rx_release(struct sl_io *io)
{
    struct imp_io *m = (struct imp_io *)io;
    imp_sync_ctr(m);
    imp_free_delivered(m);
    m->inner->ops->rx_release(m->inner);
}

/* Release due tx frames; flush the inner backend only if some went out
 * (frames the caller committed but has not flushed stay unflushed). */
static void imp_tx_push(struct imp_io *m, uint64_t now)
{
    if (pump(m, &m->tx, now) > 0)
        m->inner->ops->tx_flush(m->inner);
}

static int imp_rx_burst(struct sl_io *io, struct sl_frame *frames, int max)
{
    struct imp_io *m = (struct imp_io *)io;
    imp_sync_ctr(m);
    imp_free_delivered(m);
    m->inner->ops->rx_release(m->inner);
    if (max <= 0)
        return 0;
    uint64_t now = imp_now(m);
    m->out = frames;
    m->out_n = 0;
    m->out_max = max;

    /* 1. frames left over from the previous call, in order */
    struct imp_frame *f;
    while (m->out_n < max && (f = fifo_front(&m->ready))) {
        struct imp_frame h = *f;
        fifo_pop(&m->ready);
        rx_sink(m, &h, 1);
    }
    /* 2. held frames that are due */
    pump(m, &m->rx, now);
    /* 3. fresh frames from the inner backend */
    if (m->out_n < max) {
        int want = max - m->out_n;
        if (want > m->tmp_cap) {
            struct sl_frame *nt = realloc(m->tmp, (size_t)want * sizeof(*nt));
            if (nt) {
                m->tmp = nt;
                m->tmp_cap = want;
            } else {
                want = m->tmp_cap;
            }
        }
        int n = want > 0 ? m->inner->ops->rx_burst(m->inner, m->tmp, want) : 0;
        for (int i = 0; i < n; i++) {
            struct imp_frame in = {.data = m->tmp[i].data,
                                   .len = m->tmp[i].len,
                                   .flags = m->tmp[i].flags};
            pipeline(m, &m->rx, &in, now);
        }
    }
    /* 4. the tx direction is due too */
    imp_tx_push(m, now);
    imp_rearm(m, now);
    m->out = NULL;
    int n = m->out_n;
    m->out_n = m->out_max = 0;
    return n;
}

static uint8_t *imp_tx_alloc(struct sl_io *io, uint32_t len)
{
    struct imp_io *m = (struct imp_io *)io;
    imp_sync_ctr(m);
    if (len > io->max_frame) {
        m->tx_allocated = 0;
        sl_io_ctr_add(io, SL_CTR_drop_tx_error, 1);
        return NULL;
    }
    m->tx_allocated = 1;
    return m->tx_buf;
}

static int imp_tx_commit(struct sl_io *io, uint32_t len, const struct sl_tx_meta *meta)
{
    struct imp_io *m = (struct imp_io *)io;
    imp_sync_ctr(m);
    if (!m->tx_allocated)
        return -EINVAL;
    m->tx_allocated = 0;
    if (len > io->max_frame) {
        sl_io_ctr_add(io, SL_CTR_drop_tx_error, 1);
        return -EINVAL;
    }
    struct imp_frame f = {.data = m->tx_buf, .len = len};
    if (meta)
        f.meta = *meta;
    return pipeline(m, &m->tx, &f, imp_now(m));
}

static int imp_tx_flush(struct sl_io *io)
{
    struct imp_io *m = (struct imp_io *)io;
    imp_sync_ctr(m);
    uint64_t now = imp_now(m);
    pump(m, &m->tx, now);
    int rc = m->inner->ops->tx_flush(m->inner);
    imp_rearm(m, now);
    return rc;
}

static int imp_poll_fd(struct sl_io *io)
{
    struct imp_io *m = (struct imp_io *)io;
    return m->epfd;
}

static void imp_dir_free(struct imp_dir *d)
{
    for (int i = 0; i < d->nreo; i++)
        free(d->reo[i].data);
    d->nreo = 0;
    fifo_free(&d->delay);
}

static void imp_destroy(struct sl_io *io)
{
    struct imp_io *m = (struct imp_io *)io;
    if (!m)
        return;
    imp_free_delivered(m);
    free(m->delivered);
    imp_dir_free(&m->rx);
    imp_dir_free(&m->tx);
    fifo_free(&m->ready);
    free(m->tmp);
    free(m->tx_buf);
    if (m->epfd >= 0)
        close(m->epfd);
    if (m->tfd >= 0)
        close(m->tfd);
    if (m->inner)
        m->inner->ops->destroy(m->inner);
    free(m);
}

static const struct sl_io_ops imp_ops = {
    .name = "impair",
    .rx_burst = imp_rx_burst,
    .rx_release = imp_rx_release,
    .tx_alloc = imp_tx_alloc,
    .tx_commit = imp_tx_commit,
    .tx_flush = imp_tx_flush,
    .poll_fd = imp_poll_fd,
    .destroy = imp_destroy,
};

/* ---- spec ----------------------------------------------------------------- */

static int parse_double(const char *s, size_t n, double lo, double hi, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++) /* plain decimal only: no inf/nan/hex */
        if (!((buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.'))
            return -1;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (!(buf[0] >= '0' && buf[0] <= '9'))
        return -1; /* strtoull would accept "-1" and spaces */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

struct spec_ctx {
    struct imp_io *m;
    uint64_t *seed;
    const char *spec;
    char *err;
    size_t errlen;
};

/* One item of the spec (sl_kv_fn). */
static int spec_item(void *arg, const char *key, const char *val)
{
    struct spec_ctx *c = arg;
    struct imp_io *m = c->m;
    if (!*key && !val) {
        sl_io_err(c->err, c->errlen, "impair spec '%s': empty item", c->spec);
        return -EINVAL;
    }
    if (!val) {
        sl_io_err(c->err, c->errlen, "impair spec '%s': item '%s' is not key=value", c->spec, key);
        return -EINVAL;
    }
    size_t vlen = strlen(val);
    int bad = 0;
    const char *expect = "a percentage 0..100";
    if (!strcmp(key, "loss")) {
        bad = parse_double(val, vlen, 0, 100, &m->loss);
    } else if (!strcmp(key, "dup")) {
        bad = parse_double(val, vlen, 0, 100, &m->dup);
    } else if (!strcmp(key, "ce")) {
        bad = parse_double(val, vlen, 0, 100, &m->ce);
    } else if (!strcmp(key, "reorder")) {
        bad = parse_double(val, vlen, 0, 100, &m->reorder);
    } else if (!strcmp(key, "delay")) {
        double ms;
        bad = parse_double(val, vlen, 0, 3600.0 * 1000.0, &ms);
        if (!bad)
            m->delay_us = (uint64_t)(ms * 1000.0 + 0.5);
        expect = "milliseconds >= 0";
    } else if (!strcmp(key, "seed")) {
        bad = parse_u64(val, vlen, c->seed);
        expect = "an unsigned integer";
    } else {
        sl_io_err(c->err, c->errlen,
                  "impair spec '%s': unknown key '%s' (expected loss, dup, reorder, "
                  "delay, ce, seed)",
                  c->spec, key);
        return -EINVAL;
    }
    if (bad) {
        sl_io_err(c->err, c->errlen, "impair spec '%s': bad value '%s' for %s (expected %s)",
                  c->spec, val, key, expect);
        return -EINVAL;
    }
    return 0;
}

static int parse_spec(struct imp_io *m, const char *spec, uint64_t *seed, char *err,
                      size_t errlen)
{
    *seed = 1;
    if (!spec)
        return 0;
    const char *p = spec;
    while (*p == ' ')
        p++;
    if (!*p)
        return 0;
    struct spec_ctx c = {m, seed, spec, err, errlen};
    int rc = sl_kv_parse(spec, ',', SL_KV_TRIM | SL_KV_EMPTY, 0, spec_item, &c);
    if (rc == -ENOMEM)
        sl_io_err(err, errlen, "impair spec: out of memory");
    return rc;
}

int sl_io_impair_check(const char *spec, char *err, size_t errlen)
{
    struct imp_io tmp;
    uint64_t seed;
    memset(&tmp, 0, sizeof(tmp));
    return parse_spec(&tmp, spec, &seed, err, errlen);
}

int sl_io_impair_wrap(struct sl_io *inner, const char *spec, sl_clock_fn clock, void *clock_arg,
                      struct sl_io **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!inner || !out) {
        sl_io_err(err, errlen, "impair: no inner backend");
        return -EINVAL;
    }
    struct imp_io *m = calloc(1, sizeof(*m));
    if (!m) {
        sl_io_err(err, errlen, "impair: out of memory");
        return -ENOMEM;
    }
    m->epfd = m->tfd = -1;
    uint64_t seed;
    int rc = parse_spec(m, spec, &seed, err, errlen);
    if (rc) {
        free(m);
        return rc;
    }
    m->tx_buf = malloc(inner->max_frame ? inner->max_frame : 1);
    if (!m->tx_buf) {
        free(m);
        sl_io_err(err, errlen, "impair: out of memory");
        return -ENOMEM;
    }
    m->clock = clock ? clock : monotonic_us;
    m->clock_arg = clock ? clock_arg : NULL;
    m->rx.rng = seed;
    m->tx.rng = seed ^ 0x5851f42d4c957f2dULL;
    /* decorrelate nearby seeds */
    splitmix64(&m->rx.rng);
    splitmix64(&m->tx.rng);

    int ifd = inner->ops->poll_fd(inner);
    if (ifd >= 0) {
        m->epfd = epoll_create1(EPOLL_CLOEXEC);
        m->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.fd = ifd;
        int ok = m->epfd >= 0 && m->tfd >= 0 && epoll_ctl(m->epfd, EPOLL_CTL_ADD, ifd, &ev) == 0;
        ev.data.fd = m->tfd;
        ok = ok && epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->tfd, &ev) == 0;
        if (!ok) {
            rc = -errno;
            sl_io_err(err, errlen, "impair: epoll/timerfd setup: %s", strerror(errno));
            if (m->epfd >= 0)
                close(m->epfd);
            if (m->tfd >= 0)
                close(m->tfd);
            free(m->tx_buf);
            free(m);
            return rc ? rc : -EIO;
        }
    }

    m->inner = inner;
    m->io.ops = &imp_ops;
    memcpy(m->io.mac, inner->mac, 6);
    m->io.mtu = inner->mtu;
    m->io.max_frame = inner->max_frame;
    m->io.max_gso = inner->max_gso;
    m->io.csum_offload = inner->csum_offload;
    m->io.ctr = inner->ctr ? inner->ctr : m->ctr_local;
    *out = &m->io;
    return 0;
}
