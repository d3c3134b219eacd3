/* slproxy: the event loop's side of the relay: poll sets, timers, stats
 * and shutdown (see proxy_int.h). */
#include "proxy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

unsigned proxy_poll_add(struct proxy *px, struct pollfd *p, struct pconn **who, unsigned cap,
                        int *timeout_ms)
{
    unsigned n = 0;
    uint64_t now = app_now_us();
    for (struct pconn *c = px->head; c; c = c->next) {
        uint64_t dl = 0;
        if (c->st == C_CLOSING)
            dl = c->close_deadline;
        if (c->st == C_BACKEND && c->bfd >= 0) {
            short ev = 0;
            if (c->bst == B_CONNECTING)
                ev = POLLOUT;
            else if (c->bst == B_SENDING)
                ev = (short)((c->breq_off < c->breq_len || c->in_len ? POLLOUT : 0) | POLLIN);
            else if (c->bst == B_HEAD || (c->bst == B_BODY && !c->blen && !c->head_pending))
                ev = POLLIN;
            if (ev && n < cap) {
                p[n] = (struct pollfd){c->bfd, ev, 0};
                who[n++] = c;
            }
            dl = c->bdeadline;
        }
        if (dl) {
            int ms = dl > now ? (int)((dl - now + 999) / 1000) : 0;
            if (*timeout_ms < 0 || ms < *timeout_ms)
                *timeout_ms = ms;
        }
    }
    return n;
}

void proxy_poll_run(struct proxy *px, struct pollfd *p, struct pconn **who, unsigned n)
{
    uint64_t now = app_now_us();
    for (unsigned i = 0; i < n; i++) {
        struct pconn *c = who[i];
        if (!p[i].revents || c->st != C_BACKEND || c->bfd != p[i].fd)
            continue;
        c->bdeadline = now + (uint64_t)px->be.timeout_ms * 1000u;
        if (c->bst == B_CONNECTING || c->bst == B_SENDING) {
            if (p[i].revents & (POLLOUT | POLLERR | POLLHUP))
                pc_backend_writable(c);
            if (c->st == C_BACKEND && c->bfd == p[i].fd && c->bst == B_SENDING &&
                (p[i].revents & POLLIN))
                pc_read_head(c);
        } else if (c->bst == B_HEAD) {
            pc_read_head(c);
        } else if (c->bst == B_BODY) {
            pc_read_body(c);
        }
    }
    for (struct pconn *c = px->head; c; c = c->next) {
        if (c->st == C_CLOSING && now >= c->close_deadline) {
            px->timeouts++;
            pc_kill_conn(c, 0);
        } else if (c->st == C_BACKEND && c->bfd >= 0 && now >= c->bdeadline) {
            px->timeouts++;
            pc_backend_error(c);
        }
    }
}

void proxy_after_run(struct proxy *px)
{
    uint64_t now = app_now_us();
    for (struct pconn *c = px->head; c; c = c->next)
        if (c->st == C_WAIT_SYNC && (!px->durable || sl_conn_synced(c->c) == 1)) {
            c->st = C_BACKEND;
            pc_start_backend(c, -1);
        }
    for (unsigned i = 0; i < PX_MAX_STASH; i++) {
        struct fetch *f = px->stash[i];
        if (f && now - f->used_us > PX_STASH_US) {
            px->stash_expired++;
            close(f->fd);
            free(f);
            px->stash[i] = NULL;
        }
    }
}

void proxy_dump_stats(const struct proxy *px, int fd)
{
    const struct backends *be = &px->be;
    dprintf(fd,
            "px_accepted %llu\npx_requests %llu\npx_responses %llu\npx_bad_requests %llu\n"
            "px_resp_by_ref %llu\npx_resp_by_value %llu\npx_unsafe_requests %llu\n"
            "px_backend_errors %llu\npx_backend_retries %llu\npx_resume_backend %llu\n"
            "px_resume_restore %llu\npx_resume_ok %llu\npx_resume_changed %llu\n"
            "px_resume_failed %llu\npx_ref_fetches %llu\npx_ref_fetch_fail %llu\n"
            "px_ref_changed %llu\npx_restored %llu\npx_restored_idle %llu\n"
            "px_restored_body %llu\npx_restored_aborted %llu\npx_unsafe_cut %llu\n"
            "px_aborts %llu\npx_errors_sent %llu\npx_stash_adopted %llu\n"
            "px_stash_expired %llu\npx_timeouts %llu\npx_health_ok %llu\n"
            "px_health_fail %llu\npx_health_timeout %llu\npx_backend_marked_down %llu\n"
            "px_backend_marked_up %llu\npx_backend_connect_fail %llu\npx_pool_reused %llu\n"
            "px_pool_stale %llu\npx_pool_full %llu\n",
            (unsigned long long)px->accepted, (unsigned long long)px->requests,
            (unsigned long long)px->responses, (unsigned long long)px->bad_requests,
            (unsigned long long)px->resp_by_ref, (unsigned long long)px->resp_by_value,
            (unsigned long long)px->unsafe_requests, (unsigned long long)px->backend_errors,
            (unsigned long long)px->backend_retries, (unsigned long long)px->resume_backend,
            (unsigned long long)px->resume_restore, (unsigned long long)px->resume_ok,
            (unsigned long long)px->resume_changed, (unsigned long long)px->resume_failed,
            (unsigned long long)px->ref_fetches, (unsigned long long)px->ref_fetch_fail,
            (unsigned long long)px->ref_changed, (unsigned long long)px->restored,
            (unsigned long long)px->restored_idle, (unsigned long long)px->restored_body,
            (unsigned long long)px->restored_aborted, (unsigned long long)px->unsafe_cut,
            (unsigned long long)px->aborts, (unsigned long long)px->errors_sent,
            (unsigned long long)px->stash_adopted, (unsigned long long)px->stash_expired,
            (unsigned long long)px->timeouts, (unsigned long long)be->hc_ok,
            (unsigned long long)be->hc_fail, (unsigned long long)be->hc_timeout,
            (unsigned long long)be->marked_down, (unsigned long long)be->marked_up,
            (unsigned long long)be->connect_fail, (unsigned long long)be->pool_reused,
            (unsigned long long)be->pool_stale, (unsigned long long)be->pool_full);
}

void proxy_shutdown(struct proxy *px, int close_clients)
{
    for (struct pconn *c = px->head; c; c = c->next) {
        pc_backend_close(c);
        if (close_clients && c->st != C_DEAD)
            pc_kill_conn(c, c->st == C_BACKEND);
    }
    for (unsigned i = 0; i < PX_MAX_STASH; i++)
        if (px->stash[i]) {
            close(px->stash[i]->fd);
            free(px->stash[i]);
            px->stash[i] = NULL;
        }
    backend_close_all(&px->be);
}
