/* "mem:" store: an in-process chained hash table. For tests and for the
 * stack's durability=off bookkeeping. A handle (like every store handle) is
 * used by one thread at a time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "store/store.h"

struct mem_ent {
    struct mem_ent *next;
    uint64_t hash;
    uint64_t version; /* data keys: >= 1 */
    uint64_t epoch;   /* epoch keys */
    size_t len;
    uint8_t *data;
    char key[];
};

struct mem_store {
    struct sl_store base;
    struct mem_ent **tab;
    size_t nbuckets, n;
    uint8_t hkey[SL_HASH_KEYLEN];
};

/* Keyed: flow keys carry peer-chosen 4-tuples (common/hash.h). */
static uint64_t hash_key(const struct mem_store *m, const char *k)
{
    return sl_hash64(m->hkey, k, strlen(k));
}

static struct mem_ent **find(struct mem_store *m, const char *key, uint64_t h)
{
    struct mem_ent **pp = &m->tab[h & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && !strcmp((*pp)->key, key))
            return pp;
    return pp;
}

static int grow(struct mem_store *m)
{
    size_t nb = m->nbuckets * 2;
    struct mem_ent **t = calloc(nb, sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct mem_ent *e = m->tab[i], *nx;
        for (; e; e = nx) {
            nx = e->next;
            e->next = t[e->hash & (nb - 1)];
            t[e->hash & (nb - 1)] = e;
        }
    }
    free(m->tab);
    m->tab = t;
    m->nbuckets = nb;
    return 0;
}

static struct mem_ent *lookup_or_add(struct mem_store *m, const char *key, int *err)
{
    uint64_t h = hash_key(m, key);
    struct mem_ent **pp = find(m, key, h);
    if (*pp)
        return *pp;
    if (m->n + 1 > m->nbuckets) {
        if ((*err = grow(m)))
            return NULL;
        pp = find(m, key, h);
    }
    size_t kl = strlen(key) + 1;
    struct mem_ent *e = calloc(1, sizeof(*e) + kl);
    if (!e) {
        *err = -ENOMEM;
        return NULL;
    }
    memcpy(e->key, key, kl);
    e->hash = h;
    *pp = e;
    m->n++;
    return e;
}

static void remove_ent(struct mem_store *m, struct mem_ent **pp)
{
    struct mem_ent *e = *pp;
    *pp = e->next;
    free(e->data);
    free(e);
    m->n--;
}

static uint64_t epoch_of(struct mem_store *m, const char *key)
{
    char ek[SL_STORE_KEY_MAX];
    if (sl_store_epoch_key(ek, sizeof(ek), key) < 0)
        return 0;
    struct mem_ent **pp = find(m, ek, hash_key(m, ek));
    return *pp ? (*pp)->epoch : 0;
}

static int mem_get(struct sl_store *s, const char *key, void *buf, size_t cap, size_t *len,
                   uint64_t *version)
{
    struct mem_store *m = (struct mem_store *)s;
    struct mem_ent **pp = find(m, key, hash_key(m, key));
    if (!*pp)
        return -ENOENT;
    *len = (*pp)->len;
    *version = (*pp)->version;
    if ((*pp)->len > cap)
        return -ENOBUFS;
    if ((*pp)->len)
        memcpy(buf, (*pp)->data, (*pp)->len);
    return 0;
}

static int mem_put(struct sl_store *s, const char *key, const void *data, size_t len,
                   uint64_t expected_version, uint64_t fence, uint64_t *new_version)
{
    struct mem_store *m = (struct mem_store *)s;
    if (fence != SL_STORE_ANY && epoch_of(m, key) != fence)
        return -ESTALE;
    struct mem_ent **pp = find(m, key, hash_key(m, key));
    uint64_t cur = *pp ? (*pp)->version : 0;
    if (expected_version != SL_STORE_ANY && expected_version != cur)
        return -ESTALE;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, data, len);
    int err = 0;
    struct mem_ent *e = lookup_or_add(m, key, &err);
    if (!e) {
        free(copy);
        return err;
    }
    free(e->data);
    e->data = copy;
    e->len = len;
    e->version = cur + 1;
    *new_version = e->version;
    return 0;
}

static int mem_cas_epoch(struct sl_store *s, const char *key, uint64_t expected, uint64_t desired,
                         uint64_t *current);

static int mem_take(struct sl_store *s, const char *key, const void *data, size_t len,
                    uint64_t expected_version, uint64_t expected_epoch, uint64_t desired_epoch,
                    uint64_t *current)
{
    struct mem_store *m = (struct mem_store *)s;
    uint64_t e = epoch_of(m, key);
    *current = e;
    struct mem_ent **pp = find(m, key, hash_key(m, key));
    if (e != expected_epoch || (*pp ? (*pp)->version : 0) != expected_version)
        return -ESTALE;
    uint64_t nv;
    int rc = mem_put(s, key, data, len, expected_version, expected_epoch, &nv);
    if (rc)
        return rc;
    uint64_t cur;
    rc = mem_cas_epoch(s, key, expected_epoch, desired_epoch, &cur); /* one thread: atomic */
    *current = cur;
    return rc;
}

static int mem_del(struct sl_store *s, const char *key, uint64_t fence)
{
    struct mem_store *m = (struct mem_store *)s;
    if (fence != SL_STORE_ANY && epoch_of(m, key) != fence)
        return -ESTALE;
    struct mem_ent **pp = find(m, key, hash_key(m, key));
    if (!*pp)
        return -ENOENT;
    remove_ent(m, pp);
    return 0;
}

static int mem_epoch_get(struct sl_store *s, const char *key, uint64_t *epoch)
{
    *epoch = epoch_of((struct mem_store *)s, key);
    return 0;
}

static int mem_cas_epoch(struct sl_store *s, const char *key, uint64_t expected, uint64_t desired,
                         uint64_t *current)
{
    struct mem_store *m = (struct mem_store *)s;
    char ek[SL_STORE_KEY_MAX];
    if (sl_store_epoch_key(ek, sizeof(ek), key) < 0)
        return -ENAMETOOLONG;
    uint64_t h = hash_key(m, ek);
    struct mem_ent **pp = find(m, ek, h);
    uint64_t cur = *pp ? (*pp)->epoch : 0;
    *current = cur;
    if (cur != expected)
        return -ESTALE;
    if (desired == 0) {
        if (*pp)
            remove_ent(m, pp);
    } else {
        int err = 0;
        struct mem_ent *e = lookup_or_add(m, ek, &err);
        if (!e)
            return err;
        e->epoch = desired;
    }
    *current = desired;
    return 0;
}

static int mem_list(struct sl_store *s, const char *prefix, sl_store_list_fn fn, void *arg)
{
    struct mem_store *m = (struct mem_store *)s;
    size_t pl = strlen(prefix);
    /* Collect first: the callback may modify the store. */
    size_t cap = m->n, k = 0;
    char **keys = calloc(cap ? cap : 1, sizeof(*keys));
    if (!keys)
        return -ENOMEM;
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct mem_ent *e = m->tab[i]; e; e = e->next)
            if (!strncmp(e->key, prefix, pl) && k < cap)
                keys[k++] = strdup(e->key);
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        if (!rc && keys[i])
            rc = fn(arg, keys[i]);
        else if (!keys[i] && !rc)
            rc = -ENOMEM;
        free(keys[i]);
    }
    free(keys);
    return rc;
}

static void mem_close(struct sl_store *s)
{
    struct mem_store *m = (struct mem_store *)s;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct mem_ent *e = m->tab[i], *nx;
        for (; e; e = nx) {
            nx = e->next;
            free(e->data);
            free(e);
        }
    }
    free(m->tab);
    free(m);
}

static const struct sl_store_ops mem_ops = {
    .name = "mem",
    .get = mem_get,
    .put = mem_put,
    .del = mem_del,
    .epoch_get = mem_epoch_get,
    .cas_epoch = mem_cas_epoch,
    .take = mem_take,
    .list = mem_list,
    .close = mem_close,
};

int sl_store_mem_open(const char *opts, struct sl_store **out)
{
    if (opts && *opts)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    struct mem_store *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    sl_hash_key_new(m->hkey);
    m->nbuckets = 1024;
    m->tab = calloc(m->nbuckets, sizeof(*m->tab));
    if (!m->tab) {
        free(m);
        return -ENOMEM;
    }
    m->base.ops = &mem_ops;
    *out = &m->base;
    return 0;
}
