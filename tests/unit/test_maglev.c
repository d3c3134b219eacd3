/* Maglev lookup table: balance and disruption, as numbers, against the
 * bounds of the Maglev paper (NSDI'16 sections 3.4 and 5.3): with equal
 * weights every backend holds floor(M/N) or ceil(M/N) entries; when one
 * backend of N leaves (or joins), the entries that change owner are about
 * 1/N of the table, and the entries of the other backends mostly stay. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fleet/maglev.h"

#define MAXB 64

static char names[MAXB + 1][32];

static void backends(struct sl_maglev_backend *b, size_t n, size_t first)
{
    for (size_t i = 0; i < n; i++) {
        b[i].name = names[first + i];
        b[i].weight = 1;
    }
}

static void counts(const uint32_t *t, uint32_t m, size_t n, uint32_t *c)
{
    memset(c, 0, n * sizeof(*c));
    for (uint32_t i = 0; i < m; i++)
        if (t[i] < n)
            c[t[i]]++;
}

static void test_balance(uint32_t m, size_t n)
{
    struct sl_maglev_backend b[MAXB];
    uint32_t *t = malloc(m * sizeof(*t)), c[MAXB];
    backends(b, n, 0);
    CHECK(sl_maglev_build(b, n, m, t) == 0);
    counts(t, m, n, c);
    uint32_t mn = m, mx = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        mn = c[i] < mn ? c[i] : mn;
        mx = c[i] > mx ? c[i] : mx;
        sum += c[i];
    }
    printf("balance M=%u N=%zu: min %u max %u (M/N %.1f, max/min %.5f)\n", m, n, mn, mx,
           (double)m / (double)n, (double)mx / mn);
    CHECK(sum == m); /* every entry owned */
    CHECK(mn >= m / n && mx <= (m + n - 1) / n); /* floor / ceil of M/N */
    free(t);
}

/* Disruption when backend `gone` of n leaves: returns the fraction of all
 * entries that changed owner; *other gets the fraction of the entries of
 * the remaining backends that changed owner. */
static double leave(uint32_t m, size_t n, size_t gone, double *other)
{
    struct sl_maglev_backend b[MAXB], b2[MAXB];
    uint32_t *t1 = malloc(m * sizeof(*t1)), *t2 = malloc(m * sizeof(*t2));
    backends(b, n, 0);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (i != gone)
            b2[k++] = b[i];
    CHECK(sl_maglev_build(b, n, m, t1) == 0);
    CHECK(sl_maglev_build(b2, n - 1, m, t2) == 0);
    uint32_t moved = 0, kept_total = 0, kept_moved = 0;
    for (uint32_t i = 0; i < m; i++) {
        const char *before = b[t1[i]].name, *after = b2[t2[i]].name;
        int changed = before != after;
        moved += changed;
        if (t1[i] != gone) {
            kept_total++;
            kept_moved += changed;
        }
    }
    free(t1);
    free(t2);
    *other = (double)kept_moved / kept_total;
    return (double)moved / m;
}

static void test_disruption(uint32_t m, size_t n)
{
    double worst = 0, worst_other = 0;
    for (size_t g = 0; g < n; g++) {
        double other, f = leave(m, n, g, &other);
        worst = f > worst ? f : worst;
        worst_other = other > worst_other ? other : worst_other;
    }
    double ideal = 1.0 / (double)n;
    printf("disruption M=%u N=%zu, one leaves (or joins, the same pair of tables): "
           "moved %.4f of the table (ideal 1/N = %.4f, ratio %.3f); "
           "entries of unaffected backends moved: %.4f\n",
           m, n, worst, ideal, worst / ideal, worst_other);
    /* The paper (figure 11) shows Maglev close to, not at, the optimum:
     * allow 1.5x the ideal and 5% of the other backends' entries. */
    CHECK(worst >= ideal * 0.95);
    CHECK(worst <= ideal * 1.5);
    CHECK(worst_other <= 0.05);
}

static void test_weights(void)
{
    uint32_t m = 65537, *t = malloc(m * sizeof(*t)), c[3];
    struct sl_maglev_backend b[3] = {{names[0], 1}, {names[1], 2}, {names[2], 0}};
    CHECK(sl_maglev_build(b, 3, m, t) == 0);
    counts(t, m, 3, c);
    printf("weights 1:2:0 -> %u : %u : %u\n", c[0], c[1], c[2]);
    CHECK(c[2] == 0);
    CHECK(c[0] + c[1] == m);
    CHECK(c[1] >= 2 * c[0] - 2 && c[1] <= 2 * c[0] + 2);
    struct sl_maglev_backend none[1] = {{names[0], 0}};
    CHECK(sl_maglev_build(none, 1, m, t) == 0);
    CHECK(t[0] == SL_MAGLEV_EMPTY && t[m - 1] == SL_MAGLEV_EMPTY);
    CHECK(sl_maglev_build(b, 3, 65536, t) == -EINVAL); /* not prime */
    free(t);
}

static void test_stable(void)
{
    /* Same names, same table: every process of the fleet agrees. */
    uint32_t m = 251, t1[251], t2[251];
    struct sl_maglev_backend b[4];
    backends(b, 4, 0);
    CHECK(sl_maglev_build(b, 4, m, t1) == 0);
    CHECK(sl_maglev_build(b, 4, m, t2) == 0);
    CHECK(memcmp(t1, t2, sizeof(t1)) == 0);
    uint32_t off, skip;
    sl_maglev_perm("instance-a", m, &off, &skip);
    CHECK(off < m && skip >= 1 && skip < m);
    CHECK(sl_maglev_is_prime(65537) && sl_maglev_is_prime(251) && !sl_maglev_is_prime(65535));
}

int main(void)
{
    for (size_t i = 0; i <= MAXB; i++)
        snprintf(names[i], sizeof(names[i]), "instance-%zu", i);
    test_balance(65537, 3);
    test_balance(65537, 10);
    test_balance(65537, 64);
    test_balance(251, 7);
    test_disruption(65537, 3);
    test_disruption(65537, 10);
    test_disruption(65537, 32);
    test_weights();
    test_stable();
    printf("test_maglev: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
