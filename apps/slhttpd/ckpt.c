/* slhttpd: externalized state (checkpoints, commits, restore). */
#include "appcommon.h"
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

/* ---- externalized state (docs/externalized-state.md) ----
 *
 * With a durable listener every connection's state lives in the store.
 * slhttpd adds what only it knows, as a checkpoint saved atomically with
 * the stream positions (Migratory TCP's export):
 *
 *   response (kind 1): u8 2 | u8 1 | u8 keep | u8 v10 | u16 status |
 *     u16 hdr_len | u64 resp_off | u64 body_off | u64 body_end |
 *     u8 obj_len | obj | head bytes
 *   upload (kind 2):   u8 2 | u8 2 | u8 keep | u8 v10 | u64 len | u64 got |
 *     u64 part id | u8 name_len | name
 *
 * (the first byte is the layout version, CKPT_VERSION). Stream offsets
 * are 64-bit (sl_conn_write_off): a response may start or end past 4 GiB.
 *
 * Bodies are written by reference (sl_write_ref, object = the path below
 * the root), so the store never holds file bytes; on restore the stack
 * reads them back through srv_ref_read and slhttpd goes on from
 * (write offset - resp_off), TRODS's offset rule. Request bytes are
 * committed (level 2) only once the request they belong to is served or,
 * for an upload, written and fdatasync'ed: a restored connection gets
 * exactly the bytes nobody acted on yet. */

#define CKPT_VERSION 2
#define CKPT_RESP 33 /* fixed part of a response checkpoint */
#define CKPT_UP 29   /* fixed part of an upload checkpoint */

/* Commits every byte read so far that no request is still waiting for. */
void commit_consumed(struct conn *cn)
{
    uint64_t pending = cn->in_len - cn->in_off;
    if (!durable(cn) || cn->rd_total - pending <= cn->committed)
        return;
    uint64_t n = cn->rd_total - pending - cn->committed;
    if (sl_conn_commit(cn->c, (size_t)n) == 0)
        cn->committed += n;
}

/* The response just set up (head in io->hdr, body [body_off, body_end) of
 * cn->obj) becomes the connection's checkpoint, with the request bytes. */
void persist_response(struct conn *cn)
{
    uint8_t b[CKPT_RESP + OBJ_MAX + HDR_BUF];
    size_t ol = strlen(cn->obj);
    if (!durable(cn))
        return;
    cn->resp_off = sl_conn_write_off(cn->c);
    b[0] = CKPT_VERSION;
    b[1] = 1;
    b[2] = (uint8_t)cn->keep;
    b[3] = (uint8_t)cn->v10;
    app_put_le16(b + 4, (uint32_t)cn->status);
    app_put_le16(b + 6, (uint32_t)cn->hdr_len);
    app_put_le64(b + 8, cn->resp_off);
    app_put_le64(b + 16, cn->body_off);
    app_put_le64(b + 24, cn->body_end);
    b[32] = (uint8_t)ol;
    memcpy(b + CKPT_RESP, cn->obj, ol);
    memcpy(b + CKPT_RESP + ol, cn->io->hdr, cn->hdr_len);
    sl_conn_checkpoint(cn->c, b, CKPT_RESP + ol + cn->hdr_len);
    commit_consumed(cn);
}

void persist_upload(struct conn *cn)
{
    uint8_t b[CKPT_UP + OBJ_MAX];
    size_t nl = strlen(cn->up_name);
    b[0] = CKPT_VERSION;
    b[1] = 2;
    b[2] = (uint8_t)cn->keep;
    b[3] = (uint8_t)cn->v10;
    app_put_le64(b + 4, cn->up_len);
    app_put_le64(b + 12, cn->up_got);
    app_put_le64(b + 20, cn->up_id);
    b[28] = (uint8_t)nl;
    memcpy(b + CKPT_UP, cn->up_name, nl);
    sl_conn_checkpoint(cn->c, b, CKPT_UP + nl);
}

/* Object bytes for a restored connection (listener's ref_read). */
ssize_t srv_ref_read(void *user, const char *object, uint64_t off, void *buf, size_t len)
{
    struct server *srv = user;
    char rel[PATH_MAX];
    struct stat st;
    int fd;
    size_t done = 0;
    if (strlen(object) >= sizeof(rel))
        return -EINVAL;
    strcpy(rel, object);
    if (open_file(srv, rel, &fd, &st) != 0)
        return -ENOENT;
    while (done < len) {
        ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    close(fd);
    return done == len ? (ssize_t)len : -EIO;
}

void srv_on_restore(sl_conn *c, const void *blob, size_t len, void *user)
{
    struct server *srv = user;
    (void)c;
    srv->rblob = blob;
    srv->rlen = len;
}

/* Rebuilds a restored connection's state from its checkpoint. 0, or -1
 * if it cannot be continued (the connection is then closed). */
int restore_conn(struct conn *cn, const uint8_t *b, size_t n)
{
    struct server *srv = cn->srv;
    char rel[PATH_MAX];
    struct stat st;
    srv->restored++;
    cn->state = ST_READING;
    if (b == NULL || n == 0)
        return 0; /* between requests */
    if (n < 4 || b[0] != CKPT_VERSION)
        goto bad;
    cn->keep = b[2];
    cn->v10 = b[3];
    if (b[1] == 1 && n >= CKPT_RESP) {
        uint32_t hl = app_le16(b + 6), ol = b[32];
        uint64_t boff = app_le64(b + 16), bend = app_le64(b + 24), total, start, pos, wr;
        if (hl > HDR_BUF || ol >= OBJ_MAX || n != CKPT_RESP + ol + hl || bend < boff)
            goto bad;
        cn->status = (int)app_le16(b + 4);
        cn->hdr_len = hl;
        cn->resp_off = app_le64(b + 8);
        memcpy(cn->obj, b + CKPT_RESP, ol);
        cn->obj[ol] = '\0';
        memcpy(cn->io->hdr, b + CKPT_RESP + ol, hl);
        wr = sl_conn_write_off(cn->c);
        if (wr < cn->resp_off)
            goto bad;
        pos = wr - cn->resp_off; /* TRODS: stream offset into the response */
        total = hl + (bend - boff);
        if (pos >= total) { /* the whole response was queued before */
            cn->obj[0] = '\0';
            if (!cn->keep) {
                sl_shutdown(cn->c, SHUT_WR); /* no-op if the FIN is queued already */
                cn->state = ST_LINGER;
            }
            return 0;
        }
        cn->state = ST_WRITING;
        cn->hdr_off = pos < hl ? pos : hl;
        start = pos < hl ? boff : boff + (pos - hl);
        if (start < bend) {
            strcpy(rel, cn->obj);
            if (!cn->obj[0] || open_file(srv, rel, &cn->fd, &st) != 0 ||
                (uint64_t)st.st_size < bend)
                goto bad;
            setup_body(cn, start, bend - 1);
        }
        return 0;
    }
    if (b[1] == 2 && n >= CKPT_UP) {
        uint32_t nl = b[28];
        char part[OBJ_MAX + 32];
        if (nl == 0 || nl >= OBJ_MAX || n != CKPT_UP + nl || !srv->o.spool)
            goto bad;
        memcpy(cn->up_name, b + CKPT_UP, nl);
        cn->up_name[nl] = '\0';
        if (strchr(cn->up_name, '/') || cn->up_name[0] == '.')
            goto bad;
        cn->up_len = app_le64(b + 4);
        cn->up_got = cn->up_synced = app_le64(b + 12);
        cn->up_id = app_le64(b + 20);
        if (cn->up_got > cn->up_len)
            goto bad;
        part_name(cn, part, sizeof(part));
        cn->up_fd = spool_open(srv, part, O_WRONLY);
        if (cn->up_got == cn->up_len) { /* complete: maybe renamed already */
            upload_finish(cn);
            return 0;
        }
        if (cn->up_fd < 0)
            goto bad;
        cn->state = ST_UPLOAD;
        return 0;
    }
bad:
    srv->restore_bad++;
    fprintf(stderr, "slhttpd: a restored connection's checkpoint cannot be continued\n");
    return -1;
}
