/* Record metadata (state layer): what a flow record carries besides the
 * control block and the stream bytes, in the record's checkpoint field:
 *
 *   u8 version (1) | u8 flags (SL_META_APP_CLOSED, SL_META_COMMIT) | u8 n_refs |
 *   u8 reserved | u32 app checkpoint length |
 *   n_refs x { u32 seq | u32 len | u64 object offset | u8 name length | name } |
 *   app checkpoint bytes                                  (little-endian)
 *
 * The refs are send-by-reference extents (TRODS): their bytes are read
 * back through the listener's ref_read callback on restore, so a bulk
 * download stores a few hundred bytes per flow, not its payload.
 * Pure functions: no store, no stack. */
#ifndef SL_STATE_META_H
#define SL_STATE_META_H

#include <stddef.h>
#include <stdint.h>

#include "tcp/tcp.h"

#define SL_REF_MAX 2     /* send-by-reference extents kept per connection */
#define SL_REF_NAME 112  /* object name bytes, including the NUL */

/* One extent of the send stream that is object content (TRODS: the
 * position in the object is seq - extent seq + off). */
struct sl_ref {
    uint32_t seq, len;
    uint64_t off;
    char obj[SL_REF_NAME];
};

#define SL_META_APP_CLOSED 0x01 /* the application had released the handle */
#define SL_META_COMMIT 0x02     /* level 2: receive bytes stay until committed */

struct sl_meta {
    uint8_t flags;            /* SL_META_* */
    uint8_t n_refs;
    struct sl_ref refs[SL_REF_MAX];
    const uint8_t *ckpt;      /* application checkpoint */
    uint32_t ckpt_len;
};

/* Encoded size of m. */
size_t sl_meta_size(const struct sl_meta *m);
/* Writes m into out (sl_meta_size bytes). */
void sl_meta_encode(const struct sl_meta *m, uint8_t *out);
/* Parses len bytes (hostile input); m->ckpt points into in. 0 or -EINVAL. */
int sl_meta_parse(const uint8_t *in, uint32_t len, struct sl_meta *m);
/* Checks that a restored control block, its refs and snd_len bytes sent by
 * value describe the same send stream, and that the rings are the sizes
 * this instance uses. 0 or -EINVAL. */
int sl_meta_check_streams(const struct sl_tcb *t, const struct sl_meta *m, uint32_t snd_len,
                          uint32_t sndbuf, uint32_t rcvbuf);
/* Drops the extents of refs that are fully below una and trims the first
 * one that straddles it (TRODS: offset = ack - start). */
void sl_meta_trim_refs(struct sl_ref *refs, uint8_t *n_refs, uint32_t una);

#endif
