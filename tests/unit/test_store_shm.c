/* "shm:" store: the conformance suite (tests/lib/store_suite.c), persistence
 * across handles and processes, and the crash tests:
 *   - a writer child is SIGKILLed mid-update, hundreds of times, while
 *     reader children verify every read (store checksum + record MAC +
 *     payload); no torn or unverifiable record may ever be seen, and the
 *     next writer must get through the dead writer's robust lock;
 *   - processes racing compare-and-set on one epoch: exactly one wins;
 *   - fencing across processes: once a takeover CAS returns, no write of
 *     the old owner lands. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "state/record.h"
#include "store_suite.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/wait.h>

static char g_name[40], g_uri[160];

static const uint8_t g_mac_key[SL_REC_KEY_LEN] = "sltcp store test key, 32 bytes!";

/* Shared between the parent and its children. */
struct shared {
    volatile int stop;
    volatile uint64_t reads, bad_reads, writes;
    volatile int saw_stale;
    volatile uint64_t last_ok_version;
};
static struct shared *g_sh;

static struct shared *shared_new(void)
{
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    memset(p, 0, sizeof(struct shared));
    return p;
}

static uint64_t ms_since(uint64_t t0) { return (sl_clock_ns() - t0) / 1000000; }

/* ---------------- records for the crash test ---------------- */

static struct sl_tcb test_tcb(uint64_t gen)
{
    struct sl_tcb t;
    memset(&t, 0, sizeof(t));
    t.laddr = 0xc6120002;
    t.raddr = 0xc6120001;
    t.lport = 80;
    t.rport = 40000;
    t.state = SL_TCP_ESTABLISHED;
    t.flags = SL_TF_SACK_OK | SL_TF_TS_OK | SL_TF_WS_OK;
    t.iss = 1000;
    t.snd_una = 1001 + (uint32_t)gen * 100;
    t.snd_nxt = t.snd_max = t.snd_una;
    t.snd_bufsz = t.rcv_bufsz = 65536;
    t.irs = 5000;
    t.rcv_nxt = t.rcv_read = t.rcv_adv = 5001;
    t.snd_mss = 1448;
    t.rto = 200000;
    t.cwnd = 14480;
    t.ssthresh = UINT32_MAX;
    return t;
}

/* Encodes record number gen: its send bytes depend on gen (and its length
 * varies), so any mix of two writes fails the checks. */
static ssize_t make_record(uint64_t gen, uint8_t *out, size_t cap, uint8_t *scratch)
{
    struct sl_tcb t = test_tcb(gen);
    uint32_t n = (uint32_t)(1000 + (gen * 7919) % 60000);
    for (uint32_t i = 0; i < n; i++)
        scratch[i] = (uint8_t)(gen * 31 + i);
    t.snd_end = t.snd_una + n;
    struct sl_record_in in = {.tcb = &t, .now_us = 5000000, .epoch = 1, .gen = gen,
                              .snd_seq = t.snd_una, .snd = sl_rec_flat(scratch, n),
                              .rcv_seq = t.rcv_nxt};
    return sl_record_encode(&in, g_mac_key, out, cap);
}

/* 0 if buf is a valid record (MAC, payload pattern); *gen set. */
static int check_record(const uint8_t *buf, size_t len, uint64_t *gen)
{
    struct sl_record r;
    int rc = sl_record_decode(buf, len, g_mac_key, NULL, 5000000, &r);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < r.snd_len; i++)
        if (r.snd[i] != (uint8_t)(r.gen * 31 + i))
            return -EILSEQ;
    if (r.snd_len != (uint32_t)(1000 + (r.gen * 7919) % 60000))
        return -EILSEQ;
    *gen = r.gen;
    return 0;
}

#define REC_CAP (64 * 1024 + 512)

static void child_writer(const char *key, uint64_t start_gen)
{
    struct sl_store *s;
    if (sl_store_open(g_uri, &s))
        _exit(3);
    uint8_t *rec = malloc(REC_CAP), *scratch = malloc(REC_CAP);
    for (uint64_t gen = start_gen;; gen++) {
        ssize_t n = make_record(gen, rec, REC_CAP, scratch);
        uint64_t nv;
        if (n < 0 || sl_store_put(s, key, rec, (size_t)n, SL_STORE_ANY, SL_STORE_ANY, &nv))
            _exit(4);
        __atomic_add_fetch(&g_sh->writes, 1, __ATOMIC_RELAXED);
    }
}

static void child_reader(const char *key)
{
    struct sl_store *s;
    if (sl_store_open(g_uri, &s))
        _exit(3);
    uint8_t *buf = malloc(REC_CAP);
    uint64_t last_gen = 0, last_v = 0;
    while (!g_sh->stop) {
        size_t len;
        uint64_t v, gen;
        int rc = sl_store_get(s, key, buf, REC_CAP, &len, &v);
        if (rc == -ENOENT)
            continue;
        __atomic_add_fetch(&g_sh->reads, 1, __ATOMIC_RELAXED);
        if (rc || check_record(buf, len, &gen) || v < last_v || gen < last_gen) {
            __atomic_add_fetch(&g_sh->bad_reads, 1, __ATOMIC_RELAXED);
            fprintf(stderr, "reader: bad read rc=%d v=%llu\n", rc, (unsigned long long)v);
        } else {
            last_v = v;
            last_gen = gen;
        }
    }
    sl_store_close(s);
    _exit(0);
}

static void test_shm_kill_writer(void)
{
    const char *key = "sl:{198.18.0.2:80-198.18.0.1:40000}:rec";
    struct sl_store *s;
    CHECK_EQ(sl_store_open(g_uri, &s), 0);
    g_sh = shared_new();
    enum { READERS = 2, ROUNDS = 300 };
    pid_t readers[READERS];
    for (int i = 0; i < READERS; i++) {
        readers[i] = fork();
        if (readers[i] == 0)
            child_reader(key);
    }
    uint8_t *buf = malloc(REC_CAP);
    uint64_t last_gen = 0, gen_base = 1, last_version = 0;
    int bad = 0, stuck = 0;
    unsigned seed = 12345;
    for (int round = 0; round < ROUNDS && !bad && !stuck; round++) {
        uint64_t w0 = g_sh->writes;
        pid_t w = fork();
        if (w == 0)
            child_writer(key, gen_base);
        /* wait (bounded) until this writer published something */
        uint64_t t0 = sl_clock_ns();
        while (g_sh->writes < w0 + 1 + (round % 3) && ms_since(t0) < 10000)
            ;
        if (g_sh->writes < w0 + 1) {
            stuck = 1;
            fprintf(stderr, "round %d: writer made no progress (dead lock owner not recovered?)\n",
                    round);
        }
        /* then kill it at a random moment of a later write */
        seed = seed * 1103515245u + 12345u;
        uint64_t spin = (seed >> 8) % 200000, t1 = sl_clock_ns();
        while (sl_clock_ns() - t1 < spin)
            ;
        kill(w, SIGKILL);
        int status;
        waitpid(w, &status, 0);
        if (!WIFSIGNALED(status)) {
            bad++;
            fprintf(stderr, "writer exited on its own: status %d\n", status);
        }
        /* the last published record is intact */
        size_t len;
        uint64_t v, gen;
        int rc = sl_store_get(s, key, buf, REC_CAP, &len, &v);
        if (rc || check_record(buf, len, &gen) || gen < last_gen || v < last_version) {
            bad++;
            fprintf(stderr, "round %d: after kill: rc=%d\n", round, rc);
        } else {
            last_gen = gen;
            last_version = v;
        }
        gen_base = last_gen + 1000000; /* each writer's gens are above the last seen */
    }
    g_sh->stop = 1;
    int rbad = 0;
    for (int i = 0; i < READERS; i++) {
        int status;
        waitpid(readers[i], &status, 0);
        rbad += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(stuck, 0);
    CHECK_EQ(rbad, 0);
    CHECK_EQ(g_sh->bad_reads, 0);
    CHECK(g_sh->reads > 1000);
    CHECK(g_sh->writes > ROUNDS);
    printf("     kill test: %d rounds, %llu writes, %llu verified concurrent reads, last version %llu\n",
           ROUNDS, (unsigned long long)g_sh->writes, (unsigned long long)g_sh->reads,
           (unsigned long long)last_version);
    CHECK_EQ(sl_store_del(s, key, SL_STORE_ANY), 0);
    free(buf);
    munmap(g_sh, sizeof(*g_sh));
    sl_store_close(s);
}

/* Exactly one of many processes wins a CAS on the same epoch. */
static void test_shm_cas_race(void)
{
    enum { ROUNDS = 40, RACERS = 8 };
    int multi = 0, none = 0, wrong_epoch = 0;
    struct sl_store *s;
    CHECK_EQ(sl_store_open(g_uri, &s), 0);
    for (int round = 0; round < ROUNDS; round++) {
        char key[64];
        snprintf(key, sizeof(key), "sl:{race-%d}:rec", round);
        int go[2];
        if (pipe(go))
            abort();
        pid_t kids[RACERS];
        for (int i = 0; i < RACERS; i++) {
            kids[i] = fork();
            if (kids[i] == 0) {
                close(go[1]);
                struct sl_store *cs;
                if (sl_store_open(g_uri, &cs))
                    _exit(3);
                char c;
                if (read(go[0], &c, 1) != 0) /* EOF = start */
                    _exit(3);
                uint64_t cur;
                /* everybody read epoch 0 and proposes its own */
                int rc = sl_store_cas_epoch(cs, key, 0, (uint64_t)(100 + i), &cur);
                if (rc == 0) {
                    uint64_t nv;
                    _exit(sl_store_put(cs, key, &i, sizeof(i), SL_STORE_ANY, 100 + (uint64_t)i,
                                       &nv) == 0 ? 0 : 4);
                }
                if (rc == -ESTALE && cur >= 100 && cur < 100 + RACERS) {
                    uint64_t nv;
                    /* the loser's fenced write must fail */
                    _exit(sl_store_put(cs, key, &i, sizeof(i), SL_STORE_ANY, 100 + (uint64_t)i,
                                       &nv) == -ESTALE ? 1 : 5);
                }
                _exit(2);
            }
        }
        close(go[0]);
        close(go[1]); /* release them all at once */
        int winners = 0, winner = -1, others = 0;
        for (int i = 0; i < RACERS; i++) {
            int status;
            waitpid(kids[i], &status, 0);
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : 99;
            if (code == 0) {
                winners++;
                winner = i;
            } else if (code != 1) {
                others++;
            }
        }
        multi += winners > 1 || others;
        none += winners == 0;
        uint64_t e = 0;
        sl_store_epoch_get(s, key, &e);
        if (winner >= 0 && e != (uint64_t)(100 + winner))
            wrong_epoch++;
        int val = -1;
        size_t len;
        uint64_t v;
        if (winner >= 0 && (sl_store_get(s, key, &val, sizeof(val), &len, &v) || val != winner))
            wrong_epoch++;
        sl_store_del(s, key, SL_STORE_ANY);
        uint64_t cur;
        sl_store_cas_epoch(s, key, e, 0, &cur);
    }
    CHECK_EQ(multi, 0);
    CHECK_EQ(none, 0);
    CHECK_EQ(wrong_epoch, 0);
    sl_store_close(s);
}

/* Fencing across processes: an old owner writes as fast as it can; the new
 * owner's CAS returns; from then on the value never changes again. */
static void test_shm_fence_takeover(void)
{
    const char *key = "sl:{fence-proc}:rec";
    struct sl_store *s;
    CHECK_EQ(sl_store_open(g_uri, &s), 0);
    uint64_t cur, nv;
    CHECK_EQ(sl_store_cas_epoch(s, key, 0, 1, &cur), 0);
    g_sh = shared_new();
    pid_t a = fork();
    if (a == 0) {
        struct sl_store *cs;
        if (sl_store_open(g_uri, &cs))
            _exit(3);
        for (uint64_t i = 0;; i++) {
            int rc = sl_store_put(cs, key, &i, sizeof(i), SL_STORE_ANY, 1, &nv);
            if (rc == -ESTALE) {
                g_sh->saw_stale = 1;
                _exit(0);
            }
            if (rc)
                _exit(4);
            g_sh->last_ok_version = nv;
            __atomic_add_fetch(&g_sh->writes, 1, __ATOMIC_RELAXED);
        }
    }
    uint64_t t0 = sl_clock_ns();
    while (g_sh->writes < 1000 && ms_since(t0) < 10000)
        ;
    CHECK_EQ(sl_store_cas_epoch(s, key, 1, 2, &cur), 0);
    uint64_t v1, v2, x1 = 0, x2 = 0;
    size_t len;
    CHECK_EQ(sl_store_get(s, key, &x1, sizeof(x1), &len, &v1), 0);
    int status;
    waitpid(a, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(g_sh->saw_stale, 1);
    CHECK_EQ(sl_store_get(s, key, &x2, sizeof(x2), &len, &v2), 0);
    CHECK_EQ(v2, v1); /* nothing landed after the takeover */
    CHECK_EQ(x2, x1);
    CHECK_EQ(g_sh->last_ok_version, v1);
    CHECK_EQ(sl_store_put(s, key, "n", 1, SL_STORE_ANY, 2, &nv), 0);
    CHECK_EQ(sl_store_del(s, key, 2), 0);
    CHECK_EQ(sl_store_cas_epoch(s, key, 2, 0, &cur), 0);
    munmap(g_sh, sizeof(*g_sh));
    sl_store_close(s);
}

/* Data outlives the handle and the process that wrote it. */
static void test_shm_persists(void)
{
    const char *key = "sl:{persist}:rec";
    pid_t p = fork();
    if (p == 0) {
        struct sl_store *cs;
        uint64_t nv, cur;
        if (sl_store_open(g_uri, &cs) || sl_store_cas_epoch(cs, key, 0, 77, &cur) ||
            sl_store_put(cs, key, "survivor", 8, SL_STORE_ANY, 77, &nv))
            _exit(1);
        _exit(0); /* no close: as if it crashed */
    }
    int status;
    waitpid(p, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct sl_store *s;
    CHECK_EQ(sl_store_open(g_uri, &s), 0);
    char buf[16];
    size_t len;
    uint64_t v, e, cur;
    CHECK_EQ(sl_store_get(s, key, buf, sizeof(buf), &len, &v), 0);
    CHECK(len == 8 && !memcmp(buf, "survivor", 8));
    CHECK_EQ(sl_store_epoch_get(s, key, &e), 0);
    CHECK_EQ(e, 77);
    CHECK_EQ(sl_store_del(s, key, 77), 0);
    CHECK_EQ(sl_store_cas_epoch(s, key, 77, 0, &cur), 0);
    sl_store_close(s);
}

/* A process stopped while holding a slot lock (SIGSTOP) cannot block
 * others forever: they time out (lock_ms). A killed holder is recovered. */
static void test_shm_lock_timeout(void)
{
    char uri[200];
    snprintf(uri, sizeof(uri), "shm:%s?lock_ms=200", g_name);
    const char *key = "sl:{stopped}:rec";
    struct sl_store *s;
    CHECK_EQ(sl_store_open(uri, &s), 0);
    g_sh = shared_new();
    pid_t w = fork();
    if (w == 0) {
        struct sl_store *cs;
        if (sl_store_open(g_uri, &cs))
            _exit(3);
        uint8_t *big = calloc(1, 256 * 1024);
        for (;;) {
            uint64_t nv;
            sl_store_put(cs, key, big, 200 * 1024, SL_STORE_ANY, SL_STORE_ANY, &nv);
            __atomic_add_fetch(&g_sh->writes, 1, __ATOMIC_RELAXED);
        }
    }
    uint64_t t0 = sl_clock_ns();
    while (g_sh->writes < 5 && ms_since(t0) < 10000)
        ;
    /* stop it; try until we catch it holding the lock (most of its time) */
    int timeouts = 0, tries = 0;
    uint64_t worst = 0, t_try = sl_clock_ns();
    for (; !timeouts && ms_since(t_try) < 20000; tries++) {
        kill(w, SIGSTOP);
        uint64_t t1 = sl_clock_ns(), nv;
        int rc = sl_store_put(s, key, "x", 1, SL_STORE_ANY, SL_STORE_ANY, &nv);
        uint64_t d = ms_since(t1);
        if (d > worst)
            worst = d;
        if (rc == -ETIMEDOUT)
            timeouts++;
        kill(w, SIGCONT);
    }
    CHECK(timeouts > 0);
    CHECK(worst < 2000);
    kill(w, SIGKILL);
    int status;
    waitpid(w, &status, 0);
    uint64_t nv;
    CHECK_EQ(sl_store_put(s, key, "y", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    CHECK_EQ(sl_store_del(s, key, SL_STORE_ANY), 0);
    munmap(g_sh, sizeof(*g_sh));
    sl_store_close(s);
}

static void test_shm_open_options(void)
{
    struct sl_store *s = NULL;
    char uri[200];
    /* existing region, explicit dimensions that disagree */
    snprintf(uri, sizeof(uri), "shm:%s?slots=16", g_name);
    CHECK_EQ(sl_store_open(uri, &s), -EINVAL);
    CHECK_EQ(sl_store_open("shm:", &s), -EINVAL);
    CHECK_EQ(sl_store_open("shm:a?slots=x", &s), -EINVAL);
    CHECK_EQ(sl_store_open("shm:a?zz=1", &s), -EINVAL);
    CHECK_EQ(sl_store_open("shm:.hidden", &s), -EINVAL);
    /* a small region: full is -ENOSPC, too large a value is -ENOSPC */
    char small[64];
    snprintf(small, sizeof(small), "%s-small", g_name);
    sl_store_shm_unlink(small);
    snprintf(uri, sizeof(uri), "shm:%s?slots=8&max=1024", small);
    CHECK_EQ(sl_store_open(uri, &s), 0);
    if (!s)
        return;
    uint8_t big[2048] = {0};
    uint64_t nv;
    CHECK_EQ(sl_store_put(s, "k:{a}:r", big, 2048, SL_STORE_ANY, SL_STORE_ANY, &nv), -ENOSPC);
    CHECK_EQ(sl_store_put(s, "k:{a}:r", big, 1024, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    int nospc = 0;
    for (int i = 0; i < 10; i++) {
        char k[32];
        snprintf(k, sizeof(k), "k:{b%d}:r", i);
        nospc += sl_store_put(s, k, "v", 1, SL_STORE_ANY, SL_STORE_ANY, &nv) == -ENOSPC;
    }
    CHECK_EQ(nospc, 3); /* 8 slots, one taken */
    /* deleting frees slots for reuse (tombstones) */
    CHECK_EQ(sl_store_del(s, "k:{b0}:r", SL_STORE_ANY), 0);
    CHECK_EQ(sl_store_put(s, "k:{c}:r", "v", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    char b[4];
    size_t len;
    uint64_t v;
    CHECK_EQ(sl_store_get(s, "k:{b1}:r", b, sizeof(b), &len, &v), 0);
    CHECK_EQ(sl_store_get(s, "k:{zzz}:r", b, sizeof(b), &len, &v), -ENOENT); /* full table: terminates */
    sl_store_close(s);
    /* reopening without options adopts the region's dimensions */
    snprintf(uri, sizeof(uri), "shm:%s", small);
    CHECK_EQ(sl_store_open(uri, &s), 0);
    if (s) {
        CHECK_EQ(sl_store_get(s, "k:{b1}:r", b, sizeof(b), &len, &v), 0);
        sl_store_close(s);
    }
    CHECK_EQ(sl_store_shm_unlink(small), 0);
}

/* A region whose creator died before finishing initialization is
 * initialized again by the next opener. */
static void test_shm_half_initialized(void)
{
    char name[64], path[96], uri[160];
    snprintf(name, sizeof(name), "%s-half", g_name);
    snprintf(path, sizeof(path), "/dev/shm/%s", name);
    sl_store_shm_unlink(name);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd); /* empty file: as if the creator died right after shm_open */
    snprintf(uri, sizeof(uri), "shm:%s?slots=64&max=4096", name);
    struct sl_store *s = NULL;
    CHECK_EQ(sl_store_open(uri, &s), 0);
    uint64_t nv;
    if (s) {
        CHECK_EQ(sl_store_put(s, "h:{x}:r", "ok", 2, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
        sl_store_close(s);
    }
    CHECK_EQ(sl_store_shm_unlink(name), 0);
}

/* A region someone else created first (a local user squatting the name
 * before the server starts) is refused, whatever it holds: owned by
 * another uid, mode wider than 0600, or a symlink. The server's own region
 * is reused (test_shm_persists). */
static void test_shm_squatted(void)
{
    char name[64], path[96], uri[160];
    snprintf(name, sizeof(name), "%s-squat", g_name);
    snprintf(path, sizeof(path), "/dev/shm/%s", name);
    snprintf(uri, sizeof(uri), "shm:%s?slots=64&max=4096", name);
    struct sl_store *s = NULL;
    int fd;
    if (geteuid() == 0) {
        /* created by uid 65534 with mode 0666, as an attacker would */
        sl_store_shm_unlink(name);
        pid_t p = fork();
        if (p == 0) {
            if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
                _exit(3);
            int cfd = open(path, O_RDWR | O_CREAT | O_EXCL, 0666);
            _exit(cfd >= 0 && fchmod(cfd, 0666) == 0 ? 0 : 4);
        }
        int status;
        waitpid(p, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK_EQ(sl_store_open(uri, &s), -EPERM);
        /* even with mode 0600 it is not ours */
        CHECK_EQ(chmod(path, 0600), 0);
        CHECK_EQ(sl_store_open(uri, &s), -EPERM);
        CHECK_EQ(sl_store_shm_unlink(name), 0);
    } else {
        printf("     (not root: the other-uid case is skipped)\n");
    }
    /* ours, but readable by others */
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK_EQ(fchmod(fd, 0644), 0);
        close(fd);
    }
    CHECK_EQ(sl_store_open(uri, &s), -EPERM);
    CHECK_EQ(sl_store_shm_unlink(name), 0);
    /* a symlink planted under the name (to a file of ours) */
    char target[96];
    snprintf(target, sizeof(target), "/dev/shm/%s-target", name);
    fd = open(target, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    CHECK_EQ(symlink(target, path), 0);
    CHECK_EQ(sl_store_open(uri, &s), -EPERM);
    unlink(path);
    unlink(target);
    /* a dangling symlink is not followed to create a file elsewhere */
    CHECK_EQ(symlink(target, path), 0);
    CHECK_EQ(sl_store_open(uri, &s), -EPERM);
    CHECK_EQ(access(target, F_OK), -1);
    unlink(path);
    /* created by us under a restrictive umask: still 0600, reused later */
    mode_t old = umask(0277);
    CHECK_EQ(sl_store_open(uri, &s), 0);
    umask(old);
    if (s)
        sl_store_close(s);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_mode & 07777, 0600);
    s = NULL;
    CHECK_EQ(sl_store_open(uri, &s), 0);
    if (s)
        sl_store_close(s);
    CHECK_EQ(sl_store_shm_unlink(name), 0);
}

int main(void)
{
    snprintf(g_name, sizeof(g_name), "sltest-store-%d", (int)getpid());
    snprintf(g_uri, sizeof(g_uri), "shm:%s?slots=8192&max=262144", g_name);
    sl_store_shm_unlink(g_name);
    struct sl_store *s = NULL;
    int rc = sl_store_open(g_uri, &s);
    if (rc) {
        fprintf(stderr, "cannot open %s: %s\n", g_uri, strerror(-rc));
        return 1;
    }
    suite_run(s, g_uri);
    sl_store_close(s);
    RUN(test_shm_persists);
    RUN(test_shm_kill_writer);
    RUN(test_shm_cas_race);
    RUN(test_shm_fence_takeover);
    RUN(test_shm_lock_timeout);
    RUN(test_shm_open_options);
    RUN(test_shm_half_initialized);
    RUN(test_shm_squatted);
    sl_store_shm_unlink(g_name);
    return check_finish("test_store_shm");
}
