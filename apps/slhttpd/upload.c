/* slhttpd: PUT into the spool. */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/syscall.h>

/* ---- uploads (PUT into the spool) ----
 *
 * The spool is a directory outside the document root, reached only
 * through its descriptor: every file is opened with openat2 beneath it
 * with no symlink on the way (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), a new
 * part with O_CREAT | O_EXCL. Each upload writes its own part,
 * .NAME.ID.part (ID random, so two PUTs of one name never share a file;
 * a leading dot, which a PUT name cannot have, so a part never collides
 * with a finished name), renamed to NAME when complete and durable. Limits:
 * --max-upload per body (413), --spool-quota for the spool's files plus the
 * bytes uploads in progress still announce (507); parts nobody has written
 * for --part-timeout seconds are removed. */

void part_name(const struct conn *cn, char *out, size_t len)
{
    snprintf(out, len, ".%s.%016" PRIx64 ".part", cn->up_name, cn->up_id);
}

int spool_open(struct server *srv, const char *name, int flags)
{
    struct open_how how;
    long fd;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    how.mode = (flags & O_CREAT) ? 0644 : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    fd = syscall(SYS_openat2, srv->spool_fd, name, &how, sizeof(how));
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) /* no openat2: one path element, */
        fd = openat(srv->spool_fd, name, (int)how.flags, 0644); /* O_NOFOLLOW is enough */
    return fd < 0 ? -1 : (int)fd;
}

/* The spool directory, to read its entries: NULL if it cannot be. */
static DIR *spool_dir(struct server *srv)
{
    int fd = openat(srv->spool_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL && fd >= 0)
        close(fd);
    return d;
}

/* Bytes the spool holds plus those uploads in progress still announce. */
static uint64_t spool_used(struct server *srv)
{
    uint64_t used = 0;
    DIR *d = spool_dir(srv);
    struct dirent *e;
    struct stat st;
    if (d == NULL)
        return UINT64_MAX; /* unknown: over any quota */
    while ((e = readdir(d)) != NULL)
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            used += (uint64_t)st.st_size;
    closedir(d);
    for (struct conn *cn = srv->open; cn != NULL; cn = cn->next)
        if (cn->state == ST_UPLOAD && cn->up_fd >= 0)
            used += cn->up_len - cn->up_got;
    return used;
}

/* Removes parts not written for part_timeout_s that no open upload owns
 * (their client went away, or their state never came back). */
void spool_sweep(struct server *srv)
{
    char mine[OBJ_MAX + 32];
    time_t now = time(NULL);
    DIR *d = spool_dir(srv);
    struct dirent *e;
    struct stat st;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        int owned = 0;
        if (e->d_name[0] != '.' || n < 6 || strcmp(e->d_name + n - 5, ".part") != 0 ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            now - st.st_mtime < (time_t)srv->o.part_timeout_s)
            continue;
        for (struct conn *cn = srv->open; cn != NULL && !owned; cn = cn->next) {
            if (cn->up_fd < 0)
                continue;
            part_name(cn, mine, sizeof(mine));
            owned = strcmp(mine, e->d_name) == 0;
        }
        if (!owned && unlinkat(dirfd(d), e->d_name, 0) == 0)
            srv->parts_removed++;
    }
    closedir(d);
}

/* Makes the upload's bytes durable, then commits them (level 2). */
int upload_sync(struct conn *cn)
{
    if (cn->up_got == cn->up_synced)
        return 0;
    if (fdatasync(cn->up_fd) < 0)
        return -1;
    cn->up_synced = cn->up_got;
    if (durable(cn)) {
        persist_upload(cn);
        commit_consumed(cn);
    }
    return 0;
}

void upload_finish(struct conn *cn)
{
    struct server *srv = cn->srv;
    char part[OBJ_MAX + 32];
    int status = 201;
    if (cn->up_fd >= 0) {
        if (fsync(cn->up_fd) < 0)
            status = 500;
        close(cn->up_fd);
        cn->up_fd = -1;
        part_name(cn, part, sizeof(part));
        /* renameat replaces a symlink planted at NAME, never its target */
        if (status == 201 && renameat(srv->spool_fd, part, srv->spool_fd, cn->up_name) < 0)
            status = 500;
    }
    srv->uploads++;
    cn->obj[0] = '\0';
    respond_simple(cn, status, 0, NULL);
    persist_response(cn);
}

/* PUT /NAME: the body goes to SPOOL/.NAME.ID.part, renamed to NAME when
 * complete and durable. NAME is one path element of [A-Za-z0-9._-]. */
void handle_put(struct conn *cn, const struct http_request *r)
{
    struct server *srv = cn->srv;
    char part[OBJ_MAX + 32];
    const char *name = r->target + 1;
    size_t nl = strlen(name);
    int ok = r->target[0] == '/' && nl > 0 && nl < OBJ_MAX - 8 && name[0] != '.';
    for (size_t i = 0; ok && i < nl; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
             (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '_' ||
             name[i] == '-';
    if (!ok) {
        respond_simple(cn, 400, 0, NULL);
        return;
    }
    if (!r->has_content_length) {
        respond_simple(cn, 411, 0, NULL);
        return;
    }
    if (r->content_length > srv->o.max_upload) {
        srv->upload_too_big++;
        cn->keep = 0; /* the body is not read */
        respond_simple(cn, 413, 0, NULL);
        return;
    }
    if (r->content_length > srv->o.spool_quota ||
        spool_used(srv) > srv->o.spool_quota - r->content_length) {
        srv->upload_over_quota++;
        cn->keep = 0;
        respond_simple(cn, 507, 0, NULL);
        return;
    }
    memcpy(cn->up_name, name, nl + 1);
    if (getrandom(&cn->up_id, sizeof(cn->up_id), 0) != (ssize_t)sizeof(cn->up_id)) {
        respond_simple(cn, 500, 0, NULL);
        return;
    }
    part_name(cn, part, sizeof(part));
    cn->up_fd = spool_open(srv, part, O_WRONLY | O_CREAT | O_EXCL);
    if (cn->up_fd < 0) {
        respond_simple(cn, 500, 0, NULL);
        return;
    }
    cn->up_len = r->content_length;
    cn->up_got = cn->up_synced = 0;
    cn->state = ST_UPLOAD;
    /* RFC 9110 10.1.1: the client waits for this before sending the body;
     * ST_UPLOAD writes it (all of it, across partial writes) first */
    cn->up_cont = 0;
    if (r->expect_continue && cn->up_len > 0) {
        memcpy(cn->io->hdr, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        cn->hdr_off = 0;
        cn->hdr_len = 25;
        cn->up_cont = 1;
    }
    if (durable(cn)) {
        persist_upload(cn);
        commit_consumed(cn); /* the request head */
    }
}
