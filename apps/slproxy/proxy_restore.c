/* slproxy: accepting client connections, and restoring them from the
 * store (see proxy.c for the scheme, proxy_int.h for the parts). */
#include "proxy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------- restore ---------------- */

static struct fetch *stash_take(struct proxy *px, const char *obj, uint64_t next)
{
    for (unsigned i = 0; i < PX_MAX_STASH; i++) {
        struct fetch *f = px->stash[i];
        if (f && f->next == next && strcmp(f->obj, obj) == 0) {
            px->stash[i] = NULL;
            return f;
        }
    }
    return NULL;
}

static void stash_put(struct proxy *px, struct fetch *f)
{
    unsigned slot = 0;
    for (unsigned i = 0; i < PX_MAX_STASH; i++) {
        if (!px->stash[i]) {
            slot = i;
            break;
        }
        if (px->stash[i]->used_us < px->stash[slot]->used_us)
            slot = i;
    }
    if (px->stash[slot]) {
        px->stash_expired++;
        close(px->stash[slot]->fd);
        free(px->stash[slot]);
    }
    px->stash[slot] = f;
}

ssize_t proxy_ref_read(void *user, const char *object, uint64_t off, void *buf, size_t len)
{
    struct proxy *px = user;
    struct fetch *f = stash_take(px, object, off);
    if (!f) {
        f = malloc(sizeof(*f));
        if (!f)
            return -ENOMEM;
        px->ref_fetches++;
        int rc = fetch_open(&px->be, f, object, off, px->quiet);
        if (rc < 0) {
            if (rc == -ESTALE)
                px->ref_changed++;
            else
                px->ref_fetch_fail++;
            free(f);
            return rc;
        }
    }
    if (fetch_read(&px->be, f, buf, len) < 0) {
        px->ref_fetch_fail++;
        close(f->fd);
        free(f);
        return -EIO;
    }
    f->used_us = app_now_us();
    stash_put(px, f); /* on_restore goes on from here */
    return (ssize_t)len;
}

void proxy_on_restore(sl_conn *c, const void *blob, size_t len, void *user)
{
    struct proxy *px = user;
    (void)c;
    px->rest_have = blob && len <= sizeof(px->rest_blob);
    if (px->rest_have) {
        memcpy(px->rest_blob, blob, len);
        px->rest_len = len;
    }
}

static void apply_restore(struct pconn *p, const uint8_t *blob, size_t len)
{
    struct proxy *px = p->px;
    px->restored++;
    if (!blob || px_ckpt_decode(blob, len, &p->ck) < 0)
        p->ck = (struct px_ckpt){.phase = PX_IDLE};
    switch (p->ck.phase) {
    case PX_BODY_REF:
    case PX_BODY_VAL: {
        uint64_t pos = pc_restored_pos(p);
        p->resp_keep = p->ck.keep_alive;
        if (p->ck.end != PX_NO_END && pos >= p->ck.end) {
            px->restored_idle++;
            p->ck = (struct px_ckpt){.phase = PX_IDLE, .keep_alive = (uint8_t)p->resp_keep};
            if (!p->resp_keep)
                pc_go_closing(p);
            return;
        }
        if (p->ck.phase == PX_BODY_VAL) {
            px->restored_aborted++; /* no validator: the rest cannot be trusted */
            pc_kill_conn(p, 1);
            return;
        }
        px->restored_body++;
        p->pos = pos;
        p->method = PX_GET;
        p->by_ref = 1;
        p->bm = BM_LEN;
        p->head_written = 1;
        p->btries = 0;
        p->st = C_BACKEND;
        struct fetch *f = stash_take(px, p->ck.obj, pos);
        if (f) { /* the fetch that rebuilt the unacknowledged bytes goes on */
            char validator[PX_VALID_MAX];
            px->stash_adopted++;
            px_obj_split(p->ck.obj, validator, sizeof(validator), p->host, sizeof(p->host),
                         p->target, sizeof(p->target));
            snprintf(p->validator, sizeof(p->validator), "%s", validator);
            p->bfd = f->fd;
            p->bidx = f->backend;
            p->bst = B_BODY;
            p->bdeadline = app_now_us() + (uint64_t)px->be.timeout_ms * 1000u;
            size_t n = f->len - f->off;
            if (n > p->ck.end - pos)
                n = (size_t)(p->ck.end - pos);
            memcpy(p->buf, f->buf + f->off, n);
            p->boff = 0;
            p->blen = n;
            free(f);
            pc_pump(p);
        } else {
            px->resume_restore++;
            pc_resume(p, -1);
        }
        return;
    }
    case PX_UNSAFE:
        px->unsafe_cut++; /* it may have reached a back end: never again */
        p->head_written = p->ck.head_sent;
        pc_fail_exchange(p, 502);
        return;
    default:
        px->restored_idle++;
        return;
    }
}

void proxy_listen_cb(sl_listener *l, void *user)
{
    struct proxy *px = user;
    sl_conn *c;
    for (;;) {
        px->rest_have = 0;
        if (sl_accept(l, &c) < 0)
            return;
        struct pconn *p = px->nconns < px->max_conns ? calloc(1, sizeof(*p)) : NULL;
        if (!p) {
            sl_abort(c);
            continue;
        }
        p->px = px;
        p->c = c;
        p->bfd = -1;
        p->bidx = -1;
        struct sl_conn_info ci;
        struct in_addr a;
        sl_conn_info(c, &ci);
        a.s_addr = htonl(ci.raddr);
        inet_ntop(AF_INET, &a, p->ip, sizeof(p->ip));
        p->next = px->head;
        if (px->head)
            px->head->prev = p;
        px->head = p;
        px->nconns++;
        sl_conn_set_cb(c, pc_on_client, p);
        sl_conn_setopt(c, SL_OPT_NODELAY, 1);
        if (sl_conn_restored(c))
            apply_restore(p, px->rest_have ? px->rest_blob : NULL, px->rest_len);
        else
            px->accepted++;
        if (p->st == C_IDLE)
            pc_client_read(p); /* re-delivered requests, or the first bytes */
    }
}

