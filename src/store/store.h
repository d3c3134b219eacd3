/* Connection-state store (externalized state): a key/value store with per-key versions,
 * per-flow owner epochs for fencing, and batched writes (group commit).
 *
 * Backends, chosen by URI (sl_store_open):
 *   "mem:"                          in-process hash table (tests)
 *   "shm:NAME[?slots=N&max=BYTES]"  /dev/shm/NAME, shared by processes,
 *                                   survives them; crash-safe double-buffered
 *                                   slots (store_shm.c)
 *   "redis://[USER:PASS@|:PASS@]HOST:PORT[?wait=N&wait_ms=W&timeout_ms=T&cluster=1]"
 *                                   hiredis, pipelined, AUTH on every
 *                                   connect; WAIT for N replicas
 *                                   after each write batch; cluster=1: no
 *                                   script spans two flows (store_redis.c)
 *   "fault:OPTS/INNER_URI"          fault injection around any other store
 *                                   (store_fault.c; OPTS in sl_store_fault_cfg)
 *
 * Keys are strings of at most SL_STORE_KEY_MAX-1 bytes, no NUL. A flow's
 * keys share one Redis Cluster hash tag, the text between the first '{' and
 * the next '}' (state/flow.h names flows "sl:{198.18.0.2:80-198.18.0.1:41234}:rec").
 * The OWNER EPOCH belongs to the tag, not to a key: every key of a flow is
 * fenced by the same epoch. It is 0 while nobody owns the flow. The key
 * "<prefix>{TAG}:epoch" is reserved for it and is listed by sl_store_list.
 *
 * Recovery, as the stack uses it:
 *   sl_store_epoch_get(s, key, &e)             who owns it now
 *   sl_store_cas_epoch(s, key, e, e2, &cur)    take ownership (e2 > e); -ESTALE
 *                                              and cur = the winner's epoch if
 *                                              someone else moved first
 *   sl_store_get(s, key, ...)                  load the record
 *   sl_store_put(s, key, ..., SL_STORE_ANY, e2, ...)   every later write is
 *                                              fenced: it fails with -ESTALE
 *                                              once another owner took over,
 *                                              atomically with the write
 *   sl_store_take(s, key, v, e, e2, rec, ...)  both at once: if the key is at
 *                                              version v and the flow at epoch
 *                                              e, the epoch becomes e2 and the
 *                                              value rec (carrying e2), in ONE
 *                                              operation: no instant where the
 *                                              epoch is ahead of the record
 * Group commit (Stateless TCP offloader, CoNEXT'19: one store round trip
 * per event-loop iteration for all flows):
 *   sl_store_begin(s); put/del/cas for many flows (queued, return 0);
 *   sl_store_commit(s, res, n)                 one round trip; res[i] is the
 *                                              result of the i-th queued op
 * A batch is not a transaction: ops apply in order, each on its own.
 *
 * Errors: one convention, negative errno.
 *   -ENOENT        no such key
 *   -ESTALE        a condition failed: fence epoch or expected version
 *                  (put/del), expected epoch (cas_epoch)
 *   -EBADMSG       stored bytes fail verification (shm checksum)
 *   -ECONNREFUSED  the store is unreachable (connect failed, backing off,
 *                  or a fault wrapper in "down" mode)
 *   -ETIMEDOUT     no answer in time (redis timeout_ms; WAIT short of replicas)
 *   -EIO           connection lost mid-operation, protocol or server error.
 *                  After -EIO/-ETIMEDOUT a write may or may not have happened.
 *   -ENOBUFS       get: buffer too small (*len = the size needed)
 *   -ENOSPC        shm: region full, or value larger than the slot
 *   -EINVAL        bad arguments (key too long, reserved key, ...)
 *   -EPERM         open: the store is not ours (shm: region owned by another
 *                  uid, or not mode 0600, or a symlink); redis: AUTH refused
 * Every call is counted in the store's struct sl_store_stats. */
#ifndef SL_STORE_H
#define SL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>


#define SL_STORE_KEY_MAX 128 /* including the NUL */
#define SL_STORE_ANY UINT64_MAX /* "no condition" for expected_version / fence */
#define SL_STORE_EPOCH_SUFFIX ":epoch"

struct sl_store;

/* Counters of one store handle. Every public call increments one op_*
 * counter; every failed call increments exactly one err_* counter. */
#define SL_STORE_STATS_LIST(X)                                                 \
    X(op_get) X(op_put) X(op_del) X(op_epoch_get) X(op_cas_epoch) X(op_list)   \
    X(op_take)          /* take ownership and write, one atomic operation */   \
    X(batches)          /* sl_store_commit calls */                            \
    X(batch_ops)        /* ops executed through batches */                     \
    X(err_noent) X(err_stale) X(err_badmsg) X(err_connrefused)                 \
    X(err_timeout) X(err_io) X(err_nobufs) X(err_nospc) X(err_inval)           \
    X(err_perm)         /* not ours (shm owner/mode) or AUTH refused (redis) */\
    X(err_other)                                                               \
    X(bytes_put) X(bytes_got)                                                  \
    X(reconnects)       /* redis: successful (re)connections after the first */\
    X(retries)          /* shm: reader retries after a concurrent publish */   \
    X(wait_short)       /* redis: WAIT reached fewer replicas than asked */

struct sl_store_stats {
#define SL_STORE_STAT_FIELD(n) uint64_t n;
    SL_STORE_STATS_LIST(SL_STORE_STAT_FIELD)
#undef SL_STORE_STAT_FIELD
};
extern const char *const sl_store_stat_names[];
#define SL_STORE_NSTATS (sizeof(struct sl_store_stats) / sizeof(uint64_t))

/* One queued write of a batch. */
enum sl_store_opcode { SL_STORE_OP_PUT = 1, SL_STORE_OP_DEL, SL_STORE_OP_CAS_EPOCH, SL_STORE_OP_TAKE };
struct sl_store_op {
    uint8_t code;            /* enum sl_store_opcode */
    char key[SL_STORE_KEY_MAX];
    const void *data;        /* put: owned by the batch until commit returns */
    size_t len;
    uint64_t a;              /* put: expected_version; del: fence; cas: expected */
    uint64_t b;              /* put: fence epoch;            cas: desired; take: expected epoch */
    uint64_t c;              /* take: desired epoch (take's a: expected_version) */
};
struct sl_store_result {
    int rc;                  /* 0 or negative errno */
    uint64_t value;          /* put: new version; cas: current epoch (also on -ESTALE) */
};

typedef int (*sl_store_list_fn)(void *arg, const char *key);

/* The backend interface (like Redis's ConnectionType or nginx's event
 * actions). Callers use the sl_store_* wrappers below, which validate
 * arguments, queue batches and count. All functions return 0 or a
 * negative errno (see above). */
struct sl_store_ops {
    const char *name;
    /* Copies the value into buf (up to cap bytes); *len = its full size,
     * *version = its version (>= 1). */
    int (*get)(struct sl_store *s, const char *key, void *buf, size_t cap, size_t *len,
               uint64_t *version);
    /* Writes the value if the key's version equals expected_version (0 =
     * must not exist; SL_STORE_ANY = any) and the flow's epoch equals fence
     * (SL_STORE_ANY = unfenced), atomically. *new_version = the new version. */
    int (*put)(struct sl_store *s, const char *key, const void *data, size_t len,
               uint64_t expected_version, uint64_t fence, uint64_t *new_version);
    /* Deletes the key if the flow's epoch equals fence (or SL_STORE_ANY).
     * -ENOENT if it did not exist. */
    int (*del)(struct sl_store *s, const char *key, uint64_t fence);
    /* The owner epoch of the key's flow (hash tag); 0 if never set. */
    int (*epoch_get)(struct sl_store *s, const char *key, uint64_t *epoch);
    /* Sets the flow's epoch to desired if it equals expected (atomic
     * compare-and-set); desired 0 deletes it. *current = the epoch after
     * the call (desired on success, the unchanged value on -ESTALE). */
    int (*cas_epoch)(struct sl_store *s, const char *key, uint64_t expected, uint64_t desired,
                     uint64_t *current);
    /* Calls fn for every key starting with prefix (order unspecified; keys
     * written meanwhile may or may not be seen). A nonzero fn result stops
     * the walk and is returned. */
    int (*list)(struct sl_store *s, const char *prefix, sl_store_list_fn fn, void *arg);
    /* Writes the value if the key's version equals expected_version and
     * the flow's epoch equals expected_epoch, and sets the epoch to
     * desired_epoch, atomically (one operation). *current = the epoch
     * after the call (also on -ESTALE). */
    int (*take)(struct sl_store *s, const char *key, const void *data, size_t len,
                uint64_t expected_version, uint64_t expected_epoch, uint64_t desired_epoch,
                uint64_t *current);
    /* Optional. Executes n queued writes in one round trip, res[i] for
     * ops[i]; returns 0 or a transport error (then every res[i].rc says
     * what is known). NULL: the wrapper runs the ops one by one. */
    int (*exec)(struct sl_store *s, const struct sl_store_op *ops, size_t n,
                struct sl_store_result *res);
    /* Optional: drop and re-establish the connection now. */
    int (*reconnect)(struct sl_store *s);
    void (*close)(struct sl_store *s);
};

/* Common part of every store handle; backends embed it first. */
struct sl_store {
    const struct sl_store_ops *ops;
    struct sl_store_stats stats;
    /* batch being queued (store.c) */
    bool in_batch;
    struct sl_store_op *q;
    size_t qn, qcap;
    uint8_t *arena; /* copies of queued put data */
    size_t an, acap;
};

/* ---- opening ---- */
/* Opens a store by URI (see the top). Returns 0 and *out, or a negative
 * errno (-EINVAL for an unknown scheme or bad options). */
int sl_store_open(const char *uri, struct sl_store **out);
void sl_store_close(struct sl_store *s);
const char *sl_store_name(const struct sl_store *s);

/* ---- operations (see struct sl_store_ops) ---- */
int sl_store_get(struct sl_store *s, const char *key, void *buf, size_t cap, size_t *len,
                 uint64_t *version);
int sl_store_put(struct sl_store *s, const char *key, const void *data, size_t len,
                 uint64_t expected_version, uint64_t fence, uint64_t *new_version);
int sl_store_del(struct sl_store *s, const char *key, uint64_t fence);
int sl_store_epoch_get(struct sl_store *s, const char *key, uint64_t *epoch);
int sl_store_cas_epoch(struct sl_store *s, const char *key, uint64_t expected, uint64_t desired,
                       uint64_t *current);
int sl_store_list(struct sl_store *s, const char *prefix, sl_store_list_fn fn, void *arg);
/* Take ownership and write (see struct sl_store_ops.take); not in a batch. */
int sl_store_take(struct sl_store *s, const char *key, const void *data, size_t len,
                  uint64_t expected_version, uint64_t expected_epoch, uint64_t desired_epoch,
                  uint64_t *current);
int sl_store_reconnect(struct sl_store *s);

/* ---- group commit ---- */
/* Starts queuing: put/del/cas_epoch return 0 ("queued", their output
 * pointers are not written) until sl_store_commit; get/epoch_get/list still
 * run at once. -EBUSY if a batch is open already. */
int sl_store_begin(struct sl_store *s);
/* Number of ops queued in the open batch. */
size_t sl_store_pending(const struct sl_store *s);
/* Runs the queued ops (one round trip for redis) and closes the batch.
 * res (may be NULL) receives min(n, queued) results in queue order.
 * Returns 0 if every op succeeded, else the error of the first failed one. */
int sl_store_commit(struct sl_store *s, struct sl_store_result *res, size_t n);
/* Drops the queued ops without running them. */
void sl_store_abort(struct sl_store *s);

/* ---- stats ---- */
const struct sl_store_stats *sl_store_stats(const struct sl_store *s);
/* Writes "store_NAME VALUE" lines for the non-zero counters. */
void sl_store_stats_dump(const struct sl_store *s, FILE *f);

/* ---- keys ---- */
/* The flow's hash tag of a key: [*tag, *tag + *len), including the braces;
 * the whole key if it has none. */
void sl_store_key_tag(const char *key, const char **tag, size_t *len);
/* Builds the reserved epoch key of key's flow: everything up to the end of
 * the tag, then ":epoch". Returns its length or -ENAMETOOLONG. */
int sl_store_epoch_key(char *buf, size_t cap, const char *key);
bool sl_store_is_epoch_key(const char *key);

/* ---- fault injection (store_fault.c) ---- */
struct sl_store_fault_cfg {
    uint64_t fail_nth;    /* fail only the Nth op (1-based) from now; 0 = off */
    uint64_t fail_after;  /* fail every op after the first N from now; 0 = off */
    uint32_t delay_ms;    /* delay every op (or each batch) by this much */
    int err;              /* error to inject (negative errno); default -EIO */
    bool lost_reply;      /* a failed write is still applied (ambiguous failure) */
    bool down;            /* every op fails with -ECONNREFUSED until reconnected */
};
/* Wraps inner (which the wrapper then owns and closes). */
int sl_store_fault_wrap(struct sl_store *inner, const struct sl_store_fault_cfg *cfg,
                        struct sl_store **out);
/* Replaces the configuration and restarts the op count. -EINVAL if s is
 * not a fault wrapper. */
int sl_store_fault_set(struct sl_store *s, const struct sl_store_fault_cfg *cfg);
/* Ops seen / failed by the wrapper since the last sl_store_fault_set. */
uint64_t sl_store_fault_ops(const struct sl_store *s);
uint64_t sl_store_fault_injected(const struct sl_store *s);
/* "down" mode on/off (sl_store_reconnect also clears it). */
int sl_store_fault_disconnect(struct sl_store *s, bool down);

/* ---- URIs ---- */
/* The URI with any password replaced by "***" (for logs), in buf. */
const char *sl_store_uri_redact(const char *uri, char *buf, size_t cap);
/* Percent-decodes n bytes of in (RFC 3986 2.1) into out (NUL-terminated);
 * returns the length, or -EINVAL (bad escape, NUL, does not fit). */
int sl_store_pct_decode(const char *in, size_t n, char *out, size_t cap);

/* ---- backend constructors (store.c dispatches to them) ---- */
int sl_store_mem_open(const char *opts, struct sl_store **out);
int sl_store_shm_open(const char *spec, struct sl_store **out);
int sl_store_redis_open(const char *spec, struct sl_store **out);
/* shm: remove the named region (tests, operators). */
int sl_store_shm_unlink(const char *name);

#endif
