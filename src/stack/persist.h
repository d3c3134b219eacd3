/* Externalized connection state: the stack side. See
 * docs/externalized-state.md for the design, src/stack/persist_int.h for
 * the files by job. The engine stays pure: everything that touches the
 * store lives here and is called from the event loop (stack.c) and the
 * API; the codecs it uses are in src/state/. */
#ifndef SL_STACK_PERSIST_H
#define SL_STACK_PERSIST_H

#include <stdint.h>

#include "stack/stack.h"
#include "state/flow.h"
#include "state/meta.h"
#include "state/record.h"

/* sl_pconn.flags */
#define SL_PC_LISTED 0x01   /* on the persist-dirty list */
#define SL_PC_OWNED 0x02    /* our epoch is established in the store */
#define SL_PC_WRITTEN 0x04  /* a record exists in the store */
#define SL_PC_DONE 0x08     /* finished (TIME-WAIT/CLOSED): no more writes */
#define SL_PC_GONE 0x10     /* superseded: never write or delete again */
#define SL_PC_RESTORED 0x20 /* rebuilt from the store */
#define SL_PC_COMMIT 0x40   /* level 2: bytes stay until sl_conn_commit */
#define SL_PC_EVICTED 0x80  /* left memory, the record stays */

/* Per-connection persistence state (only when the listener is durable). */
struct sl_pconn {
    uint64_t epoch;       /* ours once OWNED; the one we expect before */
    uint64_t gen;
    uint32_t app_read;    /* COMMIT mode: next byte the app reads
                             (tcb.rcv_read is then the commit point) */
    uint8_t flags;
    uint8_t dur;          /* enum sl_durability: explicit per connection */
    uint8_t n_refs;
    uint8_t lru;          /* index of its listener's LRU, 0xff = none */
    struct sl_ref refs[SL_REF_MAX];
    uint8_t *ckpt;        /* application checkpoint (malloc) */
    uint32_t ckpt_len;
    struct sl_conn *prev, *next; /* persist-dirty list */
    struct sl_conn *lru_prev, *lru_next; /* by last activity (eviction) */
    uint64_t last_active;
};

struct sl_persist;

/* Opens the store named in cfg (NULL store: returns 0, *out NULL). */
int sl_persist_create(struct sl_stack *s, const char *uri, const uint8_t *key,
                      struct sl_persist **out, char *err, size_t errlen);
void sl_persist_destroy(struct sl_stack *s);

/* Idle eviction (end of an iteration, after a successful flush): moves
 * connections idle for their listener's evict_idle_ms out of memory,
 * oldest first, without scanning the others. */
void sl_persist_evict(struct sl_stack *s);
/* The store handle (tests, stats). */
struct sl_store *sl_persist_store(struct sl_stack *s);
/* A connection of a durable listener: attach its persistence state. */
int sl_persist_attach(struct sl_stack *s, struct sl_conn *c, struct sl_listener *l);
/* The connection changed: write it at the end of this iteration. */
void sl_persist_mark(struct sl_stack *s, struct sl_conn *c);
/* Frees the persistence state only (stack teardown: the record stays). */
void sl_persist_drop(struct sl_conn *c);
/* 1 while the store is away or the offloader has work in flight: the
 * loop polls at most 10 ms apart, so results and later changes go on. */
int sl_persist_busy(const struct sl_stack *s);
/* 1 if c's state, checkpoint and commit are written (sync: in the store;
 * async: handed to the writer), 0 if a write is due, -EINVAL without
 * durability (sl_conn_synced). */
int sl_persist_synced(const struct sl_conn *c);
/* Starts the asynchronous offloader (a worker thread, its own store
 * handle); async listeners use it. mem: stores stay inline. */
int sl_persist_offload_start(struct sl_stack *s);
/* Before a stop: the batch in flight is finished and everything dirty is
 * written ("before a flow is restored anywhere, its queue is drained"). */
void sl_persist_drain(struct sl_stack *s);
/* The connection is being freed: unlink, queue the deletion of its keys. */
void sl_persist_forget(struct sl_stack *s, struct sl_conn *c);
/* End of an iteration: one batch for every changed flow; then (sync) the
 * held frames go out, or are discarded if the store did not take the
 * batch. Returns 1 if there was work. */
int sl_persist_flush(struct sl_stack *s);

/* A listener starts: durability and eviction of its connections (a
 * sync listener installs the output-commit hold once, an async one the
 * offloader). 0 or -errno. */
int sl_persist_listen(struct sl_stack *s, struct sl_listener *l);
/* The frames transmitted next belong to c (NULL: to no connection of a
 * sync listener): only a sync connection's frames wait for its batch. */
void sl_persist_tx(struct sl_stack *s, const struct sl_conn *c);

/* Why a restore did not give a connection, or that it did. */
enum sl_restore_why {
    SL_RESTORE_OK = 0,
    SL_RESTORE_ABSENT,     /* no record: the flow is unknown */
    SL_RESTORE_BAD,        /* a record we refuse (tampered, foreign, inconsistent) */
    SL_RESTORE_HELD,       /* we hold it already */
    SL_RESTORE_ELSEWHERE,  /* another instance owns it (or won the restore) */
    SL_RESTORE_STORE,      /* the store did not answer */
    SL_RESTORE_LIMIT,      /* no memory or over a limit (counted by the stack) */
    SL_RESTORE_REF,        /* object bytes could not be read back */
};
/* Restores one flow of l from the store: takes ownership, loads and
 * verifies its record, rebuilds the connection and hands it to the stack
 * (sl_stack_adopt). Counted; *out set on SL_RESTORE_OK. */
enum sl_restore_why sl_persist_restore(struct sl_stack *s, struct sl_listener *l,
                                       const struct sl_flow *f, struct sl_conn **out);
/* A durable listener starts: restore every flow of (addr, port) found in
 * the store. Returns the number restored. */
int sl_persist_restore_all(struct sl_stack *s, struct sl_listener *l);
/* End of an iteration: a listener whose flows could not all be restored
 * (store away, limits) lists and restores them again, with backoff (10 ms
 * doubling to 1 s, 12 tries; restore_retries), so a flow whose client
 * sends nothing does not wait for it. */
void sl_persist_retry(struct sl_stack *s);
/* A segment for a flow we do not hold: look it up in the store (rate
 * limited, negative cache) and restore it. 1 and *out: restored; 0: not
 * in the store (answer as usual: RST); -EAGAIN: it exists but is not ours
 * now (another instance won the restore) or the store is away: drop the
 * segment silently, a RST would kill the flow where it lives. */
int sl_persist_lookup(struct sl_stack *s, struct sl_listener *l, uint32_t raddr, uint16_t rport,
                      struct sl_conn **out);

/* API helpers */
int sl_persist_checkpoint(struct sl_stack *s, struct sl_conn *c, const void *blob, size_t len);
/* Record that [seq, seq+len) of the send stream is object content. */
void sl_persist_add_ref(struct sl_conn *c, uint32_t seq, uint32_t len, const char *obj,
                        uint64_t off);
/* Drop extents that are fully acknowledged. */
void sl_persist_trim_refs(struct sl_conn *c);

#endif
