/* The store key file. See keyfile.h.
 *
 * There is no built-in key: a key whose text is public lets anyone who can
 * write the store forge connection state. Without --store-key, the server
 * keeps a random key of its own next to its state (--state-dir; slproxy:
 * the default state directory). */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_full(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

int key_load(const char *path, uint8_t key[STORE_KEY_LEN], char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "key file %s: %s", path,
                 errno == ELOOP ? "is a symbolic link" : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "key file %s: not a regular file", path);
        goto fail;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "key file %s: owned by uid %u, not by this user (uid %u)", path,
                 (unsigned)st.st_uid, (unsigned)geteuid());
        goto fail;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "key file %s: mode %04o lets group or others read it "
                 "(chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
        goto fail;
    }
    if (read_full(fd, key, STORE_KEY_LEN) < 0) {
        snprintf(err, errlen, "key file %s: must hold at least %d bytes", path, STORE_KEY_LEN);
        goto fail;
    }
    close(fd);
    return 0;
fail:
    close(fd);
    return -1;
}

static int check_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "state directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "state directory %s: not a directory", dir);
        return -1;
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        snprintf(err, errlen, "state directory %s: owned by uid %u, not by this user or root",
                 dir, (unsigned)st.st_uid);
        return -1;
    }
    if (st.st_mode & 022) {
        snprintf(err, errlen, "state directory %s: mode %04o lets group or others write it "
                 "(chmod go-w %s)", dir, (unsigned)(st.st_mode & 07777), dir);
        return -1;
    }
    return 0;
}

/* Writes a fresh random key to a temporary file and links it into place:
 * two instances starting at once end up with the same key. */
static int key_create(const char *dir, const char *path, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    uint8_t key[STORE_KEY_LEN];
    int fd, rc = -1;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, STATE_KEY_NAME) >= sizeof(tmp)) {
        snprintf(err, errlen, "state directory %s: path too long", dir);
        return -1;
    }
    if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
        snprintf(err, errlen, "getrandom: %s", strerror(errno));
        return -1;
    }
    fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    if (write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || fsync(fd) < 0)
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    else if (link(tmp, path) < 0 && errno != EEXIST)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    else
        rc = 0;
    close(fd);
    unlink(tmp);
    return rc;
}

int key_state(const char *dir, uint8_t key[STORE_KEY_LEN], int *created, char *err,
              size_t errlen)
{
    char path[PATH_MAX];
    struct stat st;
    *created = 0;
    if (check_dir(dir, err, errlen) < 0)
        return -1;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, STATE_KEY_NAME) >= sizeof(path)) {
        snprintf(err, errlen, "state directory %s: path too long", dir);
        return -1;
    }
    if (lstat(path, &st) < 0 && errno == ENOENT) {
        if (key_create(dir, path, err, errlen) < 0)
            return -1;
        *created = 1;
    }
    return key_load(path, key, err, errlen);
}
