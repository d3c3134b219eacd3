/* Persistence: the asynchronous offloader (Stateless TCP, CoNEXT'19). A
 * worker thread with its own store handle commits one batch while the
 * loop goes on; flows changed meanwhile go, coalesced, in the next batch;
 * the results (fencing, re-own, failures) are applied by the loop. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stack/persist_int.h"

static void *offload_main(void *arg)
{
    struct sl_persist *p = arg;
    struct offload *w = p->off;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->has_job && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->has_job)
            break;
        pthread_mutex_unlock(&w->mu);
        /* the batch was queued on w->st by the loop while we were idle */
        sl_store_commit(w->st, p->res, w->k);
        pthread_mutex_lock(&w->mu);
        w->has_job = 0;
        w->done = 1;
        pthread_cond_broadcast(&w->cv); /* a draining loop may wait for it */
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int sl_persist_offload_start(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    if (!p || p->off || !p->uri || !strncmp(p->uri, "mem:", 4))
        return 0; /* mem: is one in-process table: writes stay in the loop */
    struct offload *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    int rc = sl_store_open(p->uri, &w->st);
    if (rc < 0) {
        free(w);
        return rc;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    p->off = w;
    if (pthread_create(&w->th, NULL, offload_main, p) != 0) {
        sl_store_close(w->st);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        p->off = NULL;
        return -EAGAIN;
    }
    return 0;
}

void sl_persist_offload_stop(struct sl_persist *p)
{
    struct offload *w = p->off;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL); /* finishes the batch in flight first */
    sl_store_close(w->st);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    p->off = NULL;
}

/* Async durability through the offloader: take the results of the batch
 * in flight if it is done, then hand the next batch over. Never waits
 * (unless `wait`: shutdown). */
int sl_persist_offload_flush(struct sl_stack *s, int wait)
{
    struct sl_persist *p = s->persist;
    struct offload *w = p->off;
    int work = 0;
    if (w->busy) {
        pthread_mutex_lock(&w->mu);
        while (wait && !w->done)
            pthread_cond_wait(&w->cv, &w->mu);
        int done = w->done;
        pthread_mutex_unlock(&w->mu);
        if (!done)
            return 0;
        w->busy = 0;
        w->done = 0;
        SCTR(s, persist_batches);
        int err, fenced;
        if (sl_persist_apply(s, w->k, 1, &err, &fenced)) {
            SCTR(s, persist_store_errors);
            sl_persist_note_down(s, err, w->nflows);
        } else {
            s->ctr[SL_CTR_persist_bytes] += w->total;
            sl_persist_note_up(s);
        }
        work = 1;
    }
    if (!p->dirty_head && !p->n_dels)
        return work;
    w->k = sl_persist_build(s, w->st, &w->nflows, &w->total);
    p->n_dels = 0;
    sl_persist_unlist_all(p); /* their latest state is in the batch */
    pthread_mutex_lock(&w->mu);
    w->busy = 1;
    w->has_job = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 1;
}
