/* "shm:NAME[?slots=N&max=BYTES&lock_ms=MS]" store: a region in /dev/shm
 * (shm_open + mmap, MAP_SHARED) that outlives the processes using it and
 * that many processes may open at once.
 *
 * Layout: a 4 KiB header, then `slots` fixed-size slots in an open-addressed
 * hash table (linear probing, tombstones, never compacted so probe chains
 * stay intact). A slot holds one key: either a value (two buffers of `max`
 * bytes each) or a flow's owner epoch (key "...{TAG}:epoch"). The file is
 * sparse: only pages that were written take memory.
 *
 *   slot: robust mutex | state | gen | seq | epoch | key | bufhdr[2] | data[2][max]
 *
 * Crash safety (a writer may be SIGKILLed at any instruction):
 *   - Values are double-buffered. A put writes the buffer readers are NOT
 *     using (index (seq+1) & 1) with its own header {version, len,
 *     checksum}, then publishes it with one release store of seq. A writer
 *     killed before that store leaves the published copy untouched; there
 *     is no moment at which a torn copy is published.
 *   - Readers take no lock: seqlock-style, they load seq (acquire), copy
 *     buffer seq & 1, fence, and retry if seq moved (a later writer may
 *     have reused that buffer); then they verify version, length and the
 *     checksum, which catch anything else (-EBADMSG: real corruption).
 *   - Writers serialize on a per-slot process-shared ROBUST mutex: when a
 *     holder dies, the next locker gets EOWNERDEAD and simply continues,
 *     since nothing a writer does before its publishing store is visible.
 *     Locks are taken with a timeout (lock_ms, default 2000): a stopped
 *     process never blocks others forever (-ETIMEDOUT).
 *   - Slot allocation is serialized by a robust mutex in the header; a key
 *     is written before its slot turns USED (release), and a generation
 *     counter lets lock-free lookups detect a slot freed and reused under
 *     them.
 * Fencing: the owner epoch lives in the flow's epoch slot. cas_epoch
 * updates it (atomic compare-exchange) holding that slot's lock, and a
 * fenced put/del checks it holding the same lock until its value is
 * published, so no write of a superseded owner can land after a new owner
 * took over (lock order: index < epoch slot < value slot).
 * Ownership: a region is created O_EXCL|O_NOFOLLOW, mode 0600; an existing
 * one is used only if it is ours with mode 0600 (open_region), else the
 * open fails with -EPERM.
 * The region's creator initializes it under flock(LOCK_EX); a creator that
 * dies half-way leaves `ready` clear, and the next opener initializes again.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/kv.h"
#include "store/store.h"

#define SHM_MAGIC 0x31304d4853534c53ull /* "SLSSHM01" */
#define SHM_LAYOUT 1
#define SHM_HDR_SIZE 4096u
#define SHM_DEF_SLOTS 1024u
#define SHM_DEF_MAX (1024u * 1024u) /* > default sndbuf + rcvbuf + checkpoint: one
                                         flow record always fits (sparse in tmpfs) */
#define SHM_MAX_TOTAL (1ull << 40)
#define SHM_READ_TRIES 100000

enum { SLOT_FREE = 0, SLOT_USED = 1, SLOT_DEAD = 2 };

struct shm_hdr {
    uint64_t magic;
    uint32_t layout, hdr_size;
    uint32_t nslots, pad;
    uint64_t val_cap, slot_size;
    _Atomic uint32_t ready;
    pthread_mutex_t index_lock;
};

struct shm_bufhdr {
    uint64_t version, len, csum;
};

struct shm_slot {
    pthread_mutex_t lock;
    _Atomic uint32_t state;
    _Atomic uint32_t gen;   /* odd while the key is being (re)written */
    _Atomic uint64_t seq;   /* published version; live buffer = seq & 1; 0 = none */
    _Atomic uint64_t epoch; /* epoch slots only */
    uint64_t khash;
    uint32_t keylen, pad;
    char key[SL_STORE_KEY_MAX];
    struct shm_bufhdr bh[2];
};
#define SLOT_DATA_OFF ((sizeof(struct shm_slot) + 63) & ~(size_t)63)

struct shm_store {
    struct sl_store base;
    uint8_t *map;
    size_t maplen;
    struct shm_hdr *h;
    uint32_t nslots;
    uint64_t val_cap, slot_size;
    uint32_t lock_ms;
};

/* ------------------------------------------------------------------ */

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* A fast 64-bit checksum (four multiply-rotate lanes, 32 bytes a round),
 * seeded with the version and length so a header never matches data of
 * another write. Not cryptographic: records carry their own MAC. */
static uint64_t csum(const uint8_t *p, size_t n, uint64_t version)
{
    const uint64_t k1 = 0x9e3779b97f4a7c15ull, k2 = 0xc2b2ae3d27d4eb4full;
    uint64_t a = version ^ k1, b = n ^ k2, c = rotl(version, 17) + k2, d = n * k1 + 1;
    while (n >= 32) {
        uint64_t w[4];
        memcpy(w, p, 32);
        a = rotl(a ^ (w[0] * k2), 31) * k1;
        b = rotl(b ^ (w[1] * k2), 31) * k1;
        c = rotl(c ^ (w[2] * k2), 31) * k1;
        d = rotl(d ^ (w[3] * k2), 31) * k1;
        p += 32;
        n -= 32;
    }
    uint64_t h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = rotl(h ^ (w * k2), 27) * k1 + 0x52dce729;
        p += 8;
        n -= 8;
    }
    while (n--)
        h = rotl(h ^ (*p++ * k1), 11) * k2;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_key(const char *k, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)k[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static struct shm_slot *slot_at(struct shm_store *m, uint32_t i)
{
    return (struct shm_slot *)(m->map + SHM_HDR_SIZE + (size_t)i * m->slot_size);
}
static uint8_t *slot_data(struct shm_store *m, struct shm_slot *sl, unsigned idx)
{
    return (uint8_t *)sl + SLOT_DATA_OFF + (size_t)idx * m->val_cap;
}

static int lock_mutex(struct shm_store *m, pthread_mutex_t *mu)
{
    uint64_t due = sl_clock_ns() + (uint64_t)m->lock_ms * 1000000u;
    struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
    int r = pthread_mutex_clocklock(mu, CLOCK_MONOTONIC, &ts); /* glibc >= 2.30 */
    if (r == EOWNERDEAD) {
        /* The holder died. Whatever it wrote was never published. */
        pthread_mutex_consistent(mu);
        return 0;
    }
    if (r == ETIMEDOUT)
        return -ETIMEDOUT;
    return r ? -EIO : 0;
}

/* Lock-free lookup. Returns the slot and its generation, or NULL. */
static struct shm_slot *find(struct shm_store *m, const char *key, size_t kl, uint64_t kh,
                             uint32_t *gen)
{
    for (uint32_t i = 0; i < m->nslots; i++) {
        struct shm_slot *sl = slot_at(m, (uint32_t)((kh + i) % m->nslots));
        uint32_t st = atomic_load_explicit(&sl->state, memory_order_acquire);
        if (st == SLOT_FREE)
            return NULL;
        if (st != SLOT_USED)
            continue;
        uint32_t g = atomic_load_explicit(&sl->gen, memory_order_acquire);
        if (g & 1)
            continue;
        bool match = sl->khash == kh && sl->keylen == kl && !memcmp(sl->key, key, kl);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&sl->gen, memory_order_relaxed) != g ||
            atomic_load_explicit(&sl->state, memory_order_relaxed) != SLOT_USED) {
            i--; /* changed under us: look at it again */
            continue;
        }
        if (match) {
            *gen = g;
            return sl;
        }
    }
    return NULL;
}

/* Finds the key or allocates a slot for it (under the index lock). */
static int find_or_alloc(struct shm_store *m, const char *key, struct shm_slot **out,
                         uint32_t *gen)
{
    size_t kl = strlen(key);
    uint64_t kh = hash_key(key, kl);
    if ((*out = find(m, key, kl, kh, gen)))
        return 0;
    int rc = lock_mutex(m, &m->h->index_lock);
    if (rc)
        return rc;
    struct shm_slot *target = NULL;
    for (uint32_t i = 0; i < m->nslots; i++) {
        struct shm_slot *sl = slot_at(m, (uint32_t)((kh + i) % m->nslots));
        uint32_t st = atomic_load_explicit(&sl->state, memory_order_acquire);
        if (st == SLOT_USED) {
            if (sl->khash == kh && sl->keylen == kl && !memcmp(sl->key, key, kl)) {
                *gen = atomic_load_explicit(&sl->gen, memory_order_acquire);
                *out = sl;
                pthread_mutex_unlock(&m->h->index_lock);
                return 0;
            }
            continue;
        }
        if (!target)
            target = sl;
        if (st == SLOT_FREE)
            break;
    }
    if (!target) {
        pthread_mutex_unlock(&m->h->index_lock);
        return -ENOSPC;
    }
    uint32_t g = atomic_load_explicit(&target->gen, memory_order_relaxed);
    atomic_store_explicit(&target->gen, g | 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    target->khash = kh;
    target->keylen = (uint32_t)kl;
    memcpy(target->key, key, kl);
    target->key[kl] = 0;
    atomic_store_explicit(&target->seq, 0, memory_order_relaxed);
    atomic_store_explicit(&target->epoch, 0, memory_order_relaxed);
    memset(target->bh, 0, sizeof(target->bh));
    g = (g | 1) + 1;
    atomic_store_explicit(&target->gen, g, memory_order_release);
    atomic_store_explicit(&target->state, SLOT_USED, memory_order_release);
    pthread_mutex_unlock(&m->h->index_lock);
    *gen = g;
    *out = target;
    return 0;
}

static struct shm_slot *lookup(struct shm_store *m, const char *key, uint32_t *gen)
{
    size_t kl = strlen(key);
    return find(m, key, kl, hash_key(key, kl), gen);
}

/* Locks a slot found earlier; false (unlocked) if it was freed meanwhile. */
static int lock_slot(struct shm_store *m, struct shm_slot *sl, uint32_t gen, bool *valid)
{
    int rc = lock_mutex(m, &sl->lock);
    if (rc)
        return rc;
    *valid = atomic_load_explicit(&sl->state, memory_order_acquire) == SLOT_USED &&
             atomic_load_explicit(&sl->gen, memory_order_acquire) == gen;
    if (!*valid)
        pthread_mutex_unlock(&sl->lock);
    return 0;
}

/* Frees a slot whose lock the caller holds. */
static void free_slot(struct shm_slot *sl)
{
    atomic_store_explicit(&sl->state, SLOT_DEAD, memory_order_release);
    uint32_t g = atomic_load_explicit(&sl->gen, memory_order_relaxed);
    atomic_store_explicit(&sl->gen, (g | 1) + 1, memory_order_release);
    atomic_store_explicit(&sl->seq, 0, memory_order_release);
}

/* Finds the flow's epoch slot (creating it if `create`) and locks it:
 * 0 with *out locked, -ENOENT if it is absent (and not created), or
 * -errno. */
static int lock_epoch_slot(struct shm_store *m, const char *key, bool create,
                           struct shm_slot **out)
{
    char ek[SL_STORE_KEY_MAX];
    if (sl_store_epoch_key(ek, sizeof(ek), key) < 0)
        return -ENAMETOOLONG;
    for (;;) {
        struct shm_slot *sl;
        uint32_t g;
        int rc;
        if (create) {
            if ((rc = find_or_alloc(m, ek, &sl, &g)))
                return rc;
        } else if (!(sl = lookup(m, ek, &g))) {
            return -ENOENT;
        }
        bool ok;
        if ((rc = lock_slot(m, sl, g, &ok)))
            return rc;
        if (ok) {
            *out = sl;
            return 0;
        }
    }
}

/* Locks the flow's epoch slot (creating it) and checks the fence. On
 * success *es is locked (or NULL when fence is SL_STORE_ANY). */
static int fence_lock(struct shm_store *m, const char *key, uint64_t fence, struct shm_slot **es)
{
    *es = NULL;
    if (fence == SL_STORE_ANY)
        return 0;
    struct shm_slot *sl;
    int rc = lock_epoch_slot(m, key, true, &sl);
    if (rc)
        return rc;
    if (atomic_load_explicit(&sl->epoch, memory_order_acquire) != fence) {
        pthread_mutex_unlock(&sl->lock);
        return -ESTALE;
    }
    *es = sl;
    return 0;
}

static void unlock_opt(struct shm_slot *sl)
{
    if (sl)
        pthread_mutex_unlock(&sl->lock);
}

/* lock_slot while the epoch slot es is held (or NULL): 0 when sl is
 * locked; otherwise es is released and the result is 1 when the slot was
 * freed meanwhile (look again) or -errno. */
static int lock_slot_fenced(struct shm_store *m, struct shm_slot *sl, uint32_t gen,
                            struct shm_slot *es)
{
    bool ok;
    int rc = lock_slot(m, sl, gen, &ok);
    if (rc || !ok) {
        unlock_opt(es);
        return rc ? rc : 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */

static int shm_get(struct sl_store *s, const char *key, void *buf, size_t cap, size_t *len,
                   uint64_t *version)
{
    struct shm_store *m = (struct shm_store *)s;
    int bad = 0;
    for (int tries = 0; tries < SHM_READ_TRIES; tries++) {
        if (tries)
            s->stats.retries++;
        if (tries > 16)
            sched_yield();
        uint32_t g;
        struct shm_slot *sl = lookup(m, key, &g);
        if (!sl)
            return -ENOENT;
        uint64_t s1 = atomic_load_explicit(&sl->seq, memory_order_acquire);
        if (s1 == 0) { /* allocated, never published (or its writer died) */
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&sl->gen, memory_order_relaxed) != g)
                continue;
            return -ENOENT;
        }
        struct shm_bufhdr bh = sl->bh[s1 & 1];
        size_t n = bh.len <= m->val_cap ? (size_t)bh.len : 0;
        bool fits = bh.len <= m->val_cap && n <= cap;
        if (fits && n)
            memcpy(buf, slot_data(m, sl, (unsigned)(s1 & 1)), n);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&sl->seq, memory_order_relaxed) != s1 ||
            atomic_load_explicit(&sl->gen, memory_order_relaxed) != g)
            continue; /* a writer reused the buffer, or the key went away */
        /* Stable copy: verify it. */
        if (bh.version != s1 || bh.len > m->val_cap) {
            bad = 1;
            break;
        }
        *len = n;
        *version = s1;
        if (!fits)
            return -ENOBUFS;
        if (csum(buf, n, s1) != bh.csum) {
            bad = 1;
            break;
        }
        return 0;
    }
    return bad ? -EBADMSG : -EAGAIN;
}

/* A put; with desired_epoch != SL_STORE_ANY (and a fence) the flow's
 * epoch becomes desired_epoch under the same lock: one atomic take. */
static int put_impl(struct sl_store *s, const char *key, const void *data, size_t len,
                    uint64_t expected_version, uint64_t fence, uint64_t desired_epoch,
                    uint64_t *new_version)
{
    struct shm_store *m = (struct shm_store *)s;
    if (len > m->val_cap)
        return -ENOSPC;
    for (;;) {
        struct shm_slot *es;
        int rc = fence_lock(m, key, fence, &es);
        if (rc)
            return rc;
        struct shm_slot *sl;
        uint32_t g;
        if (expected_version == 0 || expected_version == SL_STORE_ANY) {
            rc = find_or_alloc(m, key, &sl, &g);
            if (rc) {
                unlock_opt(es);
                return rc;
            }
        } else if (!(sl = lookup(m, key, &g))) {
            unlock_opt(es);
            return -ESTALE; /* absent: version 0 */
        }
        if ((rc = lock_slot_fenced(m, sl, g, es)) > 0)
            continue;
        if (rc)
            return rc;
        uint64_t cur = atomic_load_explicit(&sl->seq, memory_order_relaxed);
        if (expected_version != SL_STORE_ANY && expected_version != cur) {
            pthread_mutex_unlock(&sl->lock);
            unlock_opt(es);
            return -ESTALE;
        }
        uint64_t nv = cur + 1;
        unsigned idx = (unsigned)(nv & 1);
        /* Order the previous publish before our writes into the buffer a
         * reader of version cur-1 may still be copying (seqlock). */
        atomic_thread_fence(memory_order_release);
        if (len)
            memcpy(slot_data(m, sl, idx), data, len);
        sl->bh[idx].version = nv;
        sl->bh[idx].len = len;
        sl->bh[idx].csum = csum(data, len, nv);
        atomic_store_explicit(&sl->seq, nv, memory_order_release); /* publish */
        pthread_mutex_unlock(&sl->lock);
        if (es && desired_epoch != SL_STORE_ANY) /* still under the epoch lock */
            atomic_store_explicit(&es->epoch, desired_epoch, memory_order_release);
        unlock_opt(es);
        *new_version = nv;
        return 0;
    }
}

static int shm_put(struct sl_store *s, const char *key, const void *data, size_t len,
                   uint64_t expected_version, uint64_t fence, uint64_t *new_version)
{
    return put_impl(s, key, data, len, expected_version, fence, SL_STORE_ANY, new_version);
}

static int shm_epoch_get(struct sl_store *s, const char *key, uint64_t *epoch);

static int shm_take(struct sl_store *s, const char *key, const void *data, size_t len,
                    uint64_t expected_version, uint64_t expected_epoch, uint64_t desired_epoch,
                    uint64_t *current)
{
    uint64_t nv;
    int rc = put_impl(s, key, data, len, expected_version, expected_epoch, desired_epoch, &nv);
    if (rc == 0) {
        *current = desired_epoch;
        return 0;
    }
    if (rc == -ESTALE && shm_epoch_get(s, key, current) < 0)
        *current = 0;
    return rc;
}

static int shm_del(struct sl_store *s, const char *key, uint64_t fence)
{
    struct shm_store *m = (struct shm_store *)s;
    for (;;) {
        struct shm_slot *es;
        int rc = fence_lock(m, key, fence, &es);
        if (rc)
            return rc;
        uint32_t g;
        struct shm_slot *sl = lookup(m, key, &g);
        if (!sl) {
            unlock_opt(es);
            return -ENOENT;
        }
        if ((rc = lock_slot_fenced(m, sl, g, es)) > 0)
            continue;
        if (rc)
            return rc;
        bool had = atomic_load_explicit(&sl->seq, memory_order_relaxed) != 0;
        free_slot(sl);
        pthread_mutex_unlock(&sl->lock);
        unlock_opt(es);
        return had ? 0 : -ENOENT;
    }
}

static int shm_epoch_get(struct sl_store *s, const char *key, uint64_t *epoch)
{
    struct shm_store *m = (struct shm_store *)s;
    char ek[SL_STORE_KEY_MAX];
    if (sl_store_epoch_key(ek, sizeof(ek), key) < 0)
        return -ENAMETOOLONG;
    for (;;) {
        uint32_t g;
        struct shm_slot *sl = lookup(m, ek, &g);
        if (!sl) {
            *epoch = 0;
            return 0;
        }
        uint64_t e = atomic_load_explicit(&sl->epoch, memory_order_acquire);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&sl->gen, memory_order_relaxed) != g)
            continue;
        *epoch = e;
        return 0;
    }
}

static int shm_cas_epoch(struct sl_store *s, const char *key, uint64_t expected, uint64_t desired,
                         uint64_t *current)
{
    struct shm_store *m = (struct shm_store *)s;
    struct shm_slot *sl;
    int rc = lock_epoch_slot(m, key, expected == 0, &sl);
    if (rc == -ENOENT) {
        *current = 0;
        return -ESTALE;
    }
    if (rc)
        return rc;
    uint64_t e = expected;
    /* Holding the lock excludes fenced writers; the compare-exchange
     * keeps lock-free epoch readers coherent. */
    bool won = atomic_compare_exchange_strong_explicit(&sl->epoch, &e, desired,
                                                       memory_order_acq_rel, memory_order_acquire);
    if (won && desired == 0)
        free_slot(sl);
    pthread_mutex_unlock(&sl->lock);
    *current = won ? desired : e;
    return won ? 0 : -ESTALE;
}

static int shm_list(struct sl_store *s, const char *prefix, sl_store_list_fn fn, void *arg)
{
    struct shm_store *m = (struct shm_store *)s;
    size_t pl = strlen(prefix);
    for (uint32_t i = 0; i < m->nslots; i++) {
        struct shm_slot *sl = slot_at(m, i);
        if (atomic_load_explicit(&sl->state, memory_order_acquire) != SLOT_USED)
            continue;
        uint32_t g = atomic_load_explicit(&sl->gen, memory_order_acquire);
        if (g & 1)
            continue;
        char k[SL_STORE_KEY_MAX];
        uint32_t kl = sl->keylen;
        if (kl >= SL_STORE_KEY_MAX)
            continue;
        memcpy(k, sl->key, kl);
        k[kl] = 0;
        bool live = atomic_load_explicit(&sl->seq, memory_order_acquire) != 0 ||
                    atomic_load_explicit(&sl->epoch, memory_order_acquire) != 0;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&sl->gen, memory_order_relaxed) != g ||
            atomic_load_explicit(&sl->state, memory_order_relaxed) != SLOT_USED)
            continue;
        if (!live || strncmp(k, prefix, pl))
            continue;
        int rc = fn(arg, k);
        if (rc)
            return rc;
    }
    return 0;
}

static void shm_close(struct sl_store *s)
{
    struct shm_store *m = (struct shm_store *)s;
    munmap(m->map, m->maplen);
    free(m);
}

static const struct sl_store_ops shm_ops = {
    .name = "shm",
    .get = shm_get,
    .put = shm_put,
    .del = shm_del,
    .epoch_get = shm_epoch_get,
    .cas_epoch = shm_cas_epoch,
    .take = shm_take,
    .list = shm_list,
    .close = shm_close,
};

/* ------------------------------------------------------------------ */
/* opening                                                             */

static int init_robust(pthread_mutex_t *mu)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a))
        return -ENOMEM;
    int r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (!r)
        r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (!r)
        r = pthread_mutex_init(mu, &a);
    pthread_mutexattr_destroy(&a);
    return r ? -r : 0;
}

static bool name_ok(const char *n, size_t len)
{
    if (!len || len > 200)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n[0] != '.';
}

int sl_store_shm_unlink(const char *name)
{
    char path[256];
    if (!name || !name_ok(name, strlen(name)))
        return -EINVAL;
    snprintf(path, sizeof(path), "/%s", name);
    return shm_unlink(path) ? -errno : 0;
}

/* Opens the region for reading and writing. A new region is created with
 * O_EXCL|O_NOFOLLOW and mode 0600 (whatever the umask). An existing one is
 * used only if it is a regular file with one link, owned by our effective
 * uid, mode exactly 0600: anyone else who could create or open it could
 * read every connection's state and forge records (/dev/shm is writable
 * by every local user, so a region name can be squatted before we start).
 * Returns the descriptor or a negative errno; -EPERM (with one line on
 * stderr saying why) for a region that is not ours. */
static int open_region(const char *path)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (fchmod(fd, 0600)) { /* a umask may have taken bits away */
                int e = errno;
                close(fd);
                return -e;
            }
            return fd;
        }
        if (errno != EEXIST)
            return -errno;
        fd = shm_open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0) {
            if (errno == ENOENT)
                continue; /* removed between the two calls: create it */
            int e = errno;
            if (e == EACCES || e == ELOOP)
                fprintf(stderr, "sltcp: store: shm region /dev/shm%s exists and cannot be "
                        "opened (%s): not ours; remove it or choose another name\n",
                        path, strerror(e));
            return e == EACCES || e == ELOOP ? -EPERM : -e;
        }
        struct stat st;
        if (fstat(fd, &st)) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 07777) != 0600 ||
            st.st_nlink != 1) {
            fprintf(stderr, "sltcp: store: shm region /dev/shm%s belongs to uid %u with mode "
                    "%04o, not to uid %u with mode 0600: refused (another user may have "
                    "created it to read or forge connection state); remove it or choose "
                    "another name\n",
                    path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
                    (unsigned)geteuid());
            close(fd);
            return -EPERM;
        }
        return fd;
    }
    return -EAGAIN;
}

static int parse_u64(const char *v, uint64_t *out)
{
    char *end;
    if (!*v || *v == '-')
        return -EINVAL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *out = x;
    return 0;
}

struct shm_opts {
    uint64_t slots, max, lock_ms;
};

/* One option of the query string "?slots=N&max=BYTES&lock_ms=MS" (sl_kv_fn). */
static int shm_opt(void *arg, const char *key, const char *val)
{
    struct shm_opts *o = arg;
    uint64_t v;
    if (!val || parse_u64(val, &v))
        return -EINVAL;
    if (!strcmp(key, "slots"))
        o->slots = v;
    else if (!strcmp(key, "max"))
        o->max = v;
    else if (!strcmp(key, "lock_ms"))
        o->lock_ms = v;
    else
        return -EINVAL;
    return 0;
}

int sl_store_shm_open(const char *spec, struct sl_store **out)
{
    const char *q = strchr(spec, '?');
    size_t nl = q ? (size_t)(q - spec) : strlen(spec);
    if (!name_ok(spec, nl))
        return -EINVAL;
    char path[256];
    snprintf(path, sizeof(path), "/%.*s", (int)nl, spec);

    struct shm_opts o = {.lock_ms = 2000};
    if (q) {
        int rc = sl_kv_parse(q + 1, '&', 0, 256, shm_opt, &o);
        if (rc)
            return rc;
        if ((q && o.slots && (o.slots < 2 || o.slots > (1u << 24))) ||
            (o.max && o.max > (1ull << 30)) || o.lock_ms == 0 || o.lock_ms > 3600000)
            return -EINVAL;
    }
    uint64_t nslots = o.slots, val_cap = o.max, lock_ms = o.lock_ms;
    bool explicit_dims = nslots || val_cap;
    uint64_t want_slots = nslots ? nslots : SHM_DEF_SLOTS;
    uint64_t want_cap = (val_cap ? val_cap : SHM_DEF_MAX + 7) & ~7ull;
    uint64_t want_slot_size = (SLOT_DATA_OFF + 2 * want_cap + 4095) & ~4095ull;
    if (SHM_HDR_SIZE + want_slots * want_slot_size > SHM_MAX_TOTAL)
        return -EINVAL;

    int fd = open_region(path);
    if (fd < 0)
        return fd;
    /* Serialize initialization; a dead initializer's lock is released by
     * the kernel. Bounded wait. */
    int rc = 0;
    uint64_t t0 = sl_clock_ns();
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            rc = -errno;
            close(fd);
            return rc;
        }
        if ((sl_clock_ns() - t0) / 1000000u > (uint64_t)lock_ms) {
            close(fd);
            return -ETIMEDOUT;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    struct stat st;
    if (fstat(fd, &st)) {
        rc = -errno;
        goto fail_fd;
    }
    uint64_t ns = want_slots, cap = want_cap, ssz = want_slot_size;
    bool init = true;
    if ((uint64_t)st.st_size >= SHM_HDR_SIZE) {
        struct shm_hdr *h = mmap(NULL, SHM_HDR_SIZE, PROT_READ, MAP_SHARED, fd, 0);
        if (h == MAP_FAILED) {
            rc = -errno;
            goto fail_fd;
        }
        if (h->magic == SHM_MAGIC && h->layout == SHM_LAYOUT &&
            atomic_load_explicit(&h->ready, memory_order_acquire) == 1) {
            init = false;
            ns = h->nslots;
            cap = h->val_cap;
            ssz = h->slot_size;
            if (ssz < SLOT_DATA_OFF + 2 * cap || ns < 2 ||
                SHM_HDR_SIZE + ns * ssz != (uint64_t)st.st_size ||
                (explicit_dims && (ns != want_slots || cap != want_cap)))
                rc = -EINVAL; /* another layout, or options that disagree */
        } else if (h->magic == SHM_MAGIC && h->layout != SHM_LAYOUT) {
            rc = -EPROTONOSUPPORT;
        } else if (h->magic != SHM_MAGIC && h->magic != 0) {
            rc = -EINVAL; /* not ours */
        }
        munmap(h, SHM_HDR_SIZE);
        if (rc)
            goto fail_fd;
    }
    size_t total = (size_t)(SHM_HDR_SIZE + ns * ssz);
    if (init && ftruncate(fd, (off_t)total)) {
        rc = -errno;
        goto fail_fd;
    }
    uint8_t *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        rc = -errno;
        goto fail_fd;
    }
    struct shm_store *m = calloc(1, sizeof(*m));
    if (!m) {
        munmap(map, total);
        rc = -ENOMEM;
        goto fail_fd;
    }
    m->base.ops = &shm_ops;
    m->map = map;
    m->maplen = total;
    m->h = (struct shm_hdr *)map;
    m->nslots = (uint32_t)ns;
    m->val_cap = cap;
    m->slot_size = ssz;
    m->lock_ms = (uint32_t)lock_ms;
    if (init) {
        atomic_store(&m->h->ready, 0);
        memset(m->h, 0, sizeof(*m->h));
        m->h->magic = SHM_MAGIC;
        m->h->layout = SHM_LAYOUT;
        m->h->hdr_size = SHM_HDR_SIZE;
        m->h->nslots = (uint32_t)ns;
        m->h->val_cap = cap;
        m->h->slot_size = ssz;
        rc = init_robust(&m->h->index_lock);
        for (uint32_t i = 0; !rc && i < ns; i++) {
            struct shm_slot *sl = slot_at(m, i);
            memset(sl, 0, sizeof(*sl));
            rc = init_robust(&sl->lock);
        }
        if (rc) {
            munmap(map, total);
            free(m);
            goto fail_fd;
        }
        atomic_store_explicit(&m->h->ready, 1, memory_order_release);
    }
    flock(fd, LOCK_UN);
    close(fd);
    *out = &m->base;
    return 0;

fail_fd:
    flock(fd, LOCK_UN);
    close(fd);
    return rc;
}
