/* Persistence, private to src/stack/persist*.c. The files, by job:
 *   persist.c          the handle, per-connection state, the dirty list,
 *                      send-by-reference extents, checkpoints
 *   persist_batch.c    encoding a connection, the batch (group commit),
 *                      applying its results, output commit (sync)
 *   persist_offload.c  the asynchronous offloader (a worker thread)
 *   persist_restore.c  restoring flows, unknown-flow lookups, the
 *                      negative cache
 *   persist_evict.c    idle eviction, one LRU per listener
 * They change the stack only through the calls of stack.h's "calls from
 * persistence" section (adopt, retire, evict, discard, refuse). */
#ifndef SL_STACK_PERSIST_INT_H
#define SL_STACK_PERSIST_INT_H

#include <pthread.h>
#include <sodium.h>

#include "stack/persist.h"
#include "store/store.h"

#define LOOKUP_PER_SEC 2000u
#define NEGCACHE_SLOTS 4096u
#define NEGCACHE_US 1000000u
#define MAX_DELS 4096u


struct pdel {
    struct sl_flow flow;
    uint64_t epoch;
};

/* What one queued op of a batch belongs to. */
enum pop_kind { POP_CAS, POP_PUT, POP_DEL, POP_EPOCH_RESET };
struct pop {
    struct sl_conn *c;   /* NULL for a deletion */
    uint8_t kind;        /* enum pop_kind */
    struct sl_flow flow; /* to find the connection again (offloaded batches) */
    uint64_t epoch;      /* deletions: to queue them again after a failure */
};

/* The asynchronous offloader (Stateless TCP): a worker thread with its
 * own store handle commits one batch while the loop goes on; the loop
 * builds the next batch from the flows that changed meanwhile (a flow's
 * queue holds its latest state only) once the worker is done. */
struct offload {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sl_store *st;
    int has_job, done, stop, busy;
    uint32_t k, nflows;
    size_t total;
};

/* Per listener port: idle eviction (one LRU per listener (oldest at the head), so a
 * listener without eviction never blocks one with it. */
struct plru {
    uint16_t port;        /* 0: unused */
    uint32_t idle_ms;     /* the listener's evict_idle_ms, 0 = never */
    uint64_t retry_due;   /* restoring the listener's flows failed: try again then (0 = no) */
    uint8_t retry_tries;
    struct sl_conn *head, *tail;
};

struct sl_persist {
    struct sl_store *st;
    uint8_t key[SL_REC_KEY_LEN];
    struct sl_conn *dirty_head;
    struct pdel *dels;
    uint32_t n_dels;
    /* batch scratch */
    struct pop *ops;
    struct sl_store_result *res;
    uint32_t ops_cap;
    uint8_t *enc, *val, *meta;
    size_t enc_cap, val_cap, meta_cap;
    /* output commit: the hold wrapper (s->io) once a sync listener exists */
    struct sl_io *hold;
    /* store health, for the log */
    int down;            /* last batch failed */
    uint64_t down_since;
    uint64_t down_logged;
    /* unknown-flow lookups */
    uint64_t tok_ts;
    uint32_t tokens;
    /* negative cache: slot by a keyed hash (SipHash, a random key per
     * stack, so a peer cannot aim at a slot), hit only on the full tuple */
    struct { uint32_t raddr; uint16_t rport, lport; uint64_t until; } neg[NEGCACHE_SLOTS];
    uint8_t neg_key[crypto_shorthash_KEYBYTES];
    struct plru lru[SL_MAX_LISTENERS];
    char *uri;
    struct offload *off; /* async durability: the worker, or NULL (inline) */
};

/* persist.c */
void sl_persist_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int sl_persist_grow(uint8_t **b, size_t *cap, size_t need);
void sl_persist_conn_flow(const struct sl_conn *c, struct sl_flow *f);
void sl_persist_unlist(struct sl_persist *p, struct sl_conn *c);
void sl_persist_pconn_free(struct sl_conn *c);
/* persist_batch.c */
/* Builds the record of c carrying `epoch`, sealed, into p->enc (with
 * meta_flags added to its metadata flags). Returns its length or -errno. */
ssize_t sl_persist_encode(struct sl_stack *s, struct sl_conn *c, uint64_t epoch,
                          uint8_t meta_flags);
int sl_persist_apply(struct sl_stack *s, uint32_t k, int deferred, int *first_err, int *fenced);
uint32_t sl_persist_build(struct sl_stack *s, struct sl_store *st, uint32_t *nflows,
                          size_t *total);
void sl_persist_note_down(struct sl_stack *s, int rc, unsigned nflows);
void sl_persist_note_up(struct sl_stack *s);
void sl_persist_unlist_all(struct sl_persist *p);
/* persist_offload.c */
void sl_persist_offload_stop(struct sl_persist *p);
int sl_persist_offload_flush(struct sl_stack *s, int wait);
/* persist_restore.c */
uint32_t sl_persist_neg_slot(const struct sl_persist *p, uint32_t raddr, uint16_t rport,
                             uint16_t lport);
/* persist_evict.c */
void sl_persist_lru_touch(struct sl_stack *s, struct sl_conn *c);
void sl_persist_lru_unlink(struct sl_persist *p, struct sl_conn *c);
/* The LRU of listener port `port` (created on first use); NULL if full. */
struct plru *sl_persist_lru_of(struct sl_persist *p, uint16_t port);

#endif
