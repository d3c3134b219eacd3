/* Record metadata codec; see meta.h. */
#include "state/meta.h"

#include <errno.h>
#include <string.h>

#include "common/bytes.h"

#define META_VERSION 1
#define META_HDR 8

size_t sl_meta_size(const struct sl_meta *m)
{
    size_t n = META_HDR + m->ckpt_len;
    for (unsigned i = 0; i < m->n_refs; i++)
        n += 17 + strlen(m->refs[i].obj);
    return n;
}

void sl_meta_encode(const struct sl_meta *m, uint8_t *out)
{
    out[0] = META_VERSION;
    out[1] = m->flags;
    out[2] = m->n_refs;
    out[3] = 0;
    sl_put_le32(out + 4, m->ckpt_len);
    size_t o = META_HDR;
    for (unsigned i = 0; i < m->n_refs; i++) {
        const struct sl_ref *r = &m->refs[i];
        size_t nl = strlen(r->obj);
        sl_put_le32(out + o, r->seq);
        sl_put_le32(out + o + 4, r->len);
        sl_put_le64(out + o + 8, r->off);
        out[o + 16] = (uint8_t)nl;
        memcpy(out + o + 17, r->obj, nl);
        o += 17 + nl;
    }
    if (m->ckpt_len)
        memcpy(out + o, m->ckpt, m->ckpt_len);
}

int sl_meta_parse(const uint8_t *in, uint32_t len, struct sl_meta *m)
{
    if (len < META_HDR || in[0] != META_VERSION || in[3] != 0 || in[2] > SL_REF_MAX ||
        (in[1] & ~(SL_META_APP_CLOSED | SL_META_COMMIT)))
        return -EINVAL;
    m->flags = in[1];
    uint32_t cl = sl_get_le32(in + 4);
    size_t o = META_HDR;
    m->n_refs = 0;
    for (unsigned i = 0; i < in[2]; i++) {
        if (len - o < 17)
            return -EINVAL;
        struct sl_ref *r = &m->refs[m->n_refs++];
        r->seq = sl_get_le32(in + o);
        r->len = sl_get_le32(in + o + 4);
        r->off = sl_get_le64(in + o + 8);
        uint8_t nl = in[o + 16];
        if (nl >= SL_REF_NAME || len - o - 17 < nl)
            return -EINVAL;
        memcpy(r->obj, in + o + 17, nl);
        r->obj[nl] = 0;
        if (memchr(r->obj, 0, nl))
            return -EINVAL;
        o += 17 + nl;
    }
    if (len - o != cl)
        return -EINVAL;
    m->ckpt = in + o;
    m->ckpt_len = cl;
    return 0;
}

int sl_meta_check_streams(const struct sl_tcb *t, const struct sl_meta *m, uint32_t snd_len,
                          uint32_t sndbuf, uint32_t rcvbuf)
{
    if (t->snd_bufsz != sndbuf || t->rcv_bufsz != rcvbuf)
        return -EINVAL;
    uint32_t span = t->snd_end - t->snd_una;
    if (t->state >= SL_TCP_ESTABLISHED && span > sndbuf)
        return -EINVAL;
    uint32_t seq = t->snd_una, vbytes = 0;
    for (unsigned i = 0; i < m->n_refs; i++) {
        const struct sl_ref *r = &m->refs[i];
        if (sl_seq_lt(r->seq, seq) || sl_seq_gt(r->seq + r->len, t->snd_end) ||
            r->len > sndbuf)
            return -EINVAL;
        vbytes += r->seq - seq;
        seq = r->seq + r->len;
    }
    if (t->state >= SL_TCP_ESTABLISHED)
        vbytes += t->snd_end - seq;
    else
        vbytes = 0;
    return vbytes == snd_len ? 0 : -EINVAL;
}

void sl_meta_trim_refs(struct sl_ref *refs, uint8_t *n_refs, uint32_t una)
{
    unsigned j = 0;
    for (unsigned i = 0; i < *n_refs; i++) {
        struct sl_ref *r = &refs[i];
        if (sl_seq_le(r->seq + r->len, una))
            continue; /* fully acknowledged */
        if (sl_seq_lt(r->seq, una)) { /* TRODS: offset = ack - start */
            uint32_t d = una - r->seq;
            r->seq += d;
            r->off += d;
            r->len -= d;
        }
        if (j != i)
            refs[j] = *r;
        j++;
    }
    *n_refs = (uint8_t)j;
}
