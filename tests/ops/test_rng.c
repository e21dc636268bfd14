/* Philox4x32-10 against Random123's known answers; generators reproducible
 * by seed, by saved state, and for any thread count; the documented use of
 * counters; distribution sanity of every random tensor function. Meson runs
 * this program twice, with MM_NUM_THREADS=1 and 2. */
#include "ops_testing.h"

MM_TEST(philox_matches_random123_known_answers) {
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0},
         {0, 0},
         {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        mm_philox4x32_10(kat[i].ctr, kat[i].key, out);
        for (int j = 0; j < 4; j++)
            CHECK_INT(out[j], kat[i].out[j]);
    }
}

MM_TEST(rand_uses_the_documented_counter_layout) {
    POOLED({
        mm_generator *g;
        CHECK_OK(mm_generator_new(UINT64_C(0x123456789abcdef0), &g));
        mm_tensor *t;
        CHECK_OK(mm_rand(MM_SHAPE(6), MM_F32, g,
                         &t)); /* 2 blocks: counters 0 and 1 */
        uint32_t key[2] = {0x9abcdef0u, 0x12345678u}, w[4];
        for (int b = 0; b < 2; b++) {
            uint32_t ctr[4] = {(uint32_t)b, 0, 0, 0};
            mm_philox4x32_10(ctr, key, w);
            for (int l = 0; l < 4 && 4 * b + l < 6; l++)
                CHECK(at(t, 4 * b + l) == (double)(w[l] >> 8) * 0x1p-24);
        }
        CHECK_INT(mm_generator_get_state(g).offset, 2);
        mm_generator_free(g);
    });
}

MM_TEST(same_seed_same_numbers_and_state_resumes_the_stream) {
    POOLED({
        mm_tensor *a, *b, *c, *d;
        mm_manual_seed(42);
        CHECK_OK(mm_randn(MM_SHAPE(100), MM_F32, NULL, &a));
        mm_rng_state st = mm_generator_get_state(NULL);
        CHECK_OK(mm_rand(MM_SHAPE(7), MM_F64, NULL, &c));
        mm_manual_seed(42);
        CHECK_OK(mm_randn(MM_SHAPE(100), MM_F32, NULL, &b));
        CHECK(mm_allclose(a, b, 0, 0, NULL));
        mm_generator_set_state(NULL, st);
        CHECK_OK(mm_rand(MM_SHAPE(7), MM_F64, NULL, &d));
        CHECK(mm_allclose(c, d, 0, 0, NULL));
        mm_manual_seed(43);
        CHECK_OK(mm_randn(MM_SHAPE(100), MM_F32, NULL, &b));
        CHECK(!mm_allclose(a, b, 0, 0, NULL));
    });
}

/* A fingerprint of a few big random tensors (big enough to run threaded). */
static void draw(double *sums) {
    mm_generator *g;
    if (mm_generator_new(7, &g) < 0)
        abort();
    mm_tensor *t, *s;
    if (mm_randn(MM_SHAPE(300, 300), MM_F32, g, &t) < 0 ||
        mm_sum(t, 0, NULL, false, &s) < 0)
        abort();
    sums[0] = at(s, 0) + at(t, 12345);
    if (mm_rand(MM_SHAPE(100001), MM_F64, g, &t) < 0 ||
        mm_sum(t, 0, NULL, false, &s) < 0)
        abort();
    sums[1] = at(s, 0) + at(t, 100000);
    if (mm_randint(0, 1000, MM_SHAPE(70001), MM_I64, g, &t) < 0 ||
        mm_sum(t, 0, NULL, false, &s) < 0)
        abort();
    sums[2] = at(s, 0);
    mm_tensor *p;
    if (mm_full(MM_SHAPE(90000), 0.3, MM_F32, &p) < 0 ||
        mm_bernoulli(p, g, &t) < 0 || mm_sum(t, 0, NULL, false, &s) < 0)
        abort();
    sums[3] = at(s, 0);
    mm_generator_free(g);
}

MM_TEST(random_tensors_do_not_depend_on_the_thread_count) {
    POOLED({
        int nt = mm_get_num_threads();
        double one[4], two[4], env[4];
        draw(env); /* whatever MM_NUM_THREADS says */
        CHECK_OK(mm_set_num_threads(1));
        draw(one);
        CHECK_OK(mm_set_num_threads(2));
        draw(two);
        CHECK_OK(mm_set_num_threads(nt));
        for (int i = 0; i < 4; i++) {
            CHECK(one[i] == two[i]);
            CHECK(one[i] == env[i]);
        }
    });
}

static void moments(const mm_tensor *t, double *mean, double *var) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = at(t, i);
        s += v;
        s2 += v * v;
    }
    *mean = s / (double)t->numel;
    *var = s2 / (double)t->numel - *mean * *mean;
}

MM_TEST(distributions_have_the_right_moments) {
    POOLED({
        mm_tensor *t;
        double m, v;
        CHECK_OK(mm_randn(MM_SHAPE(200000), MM_F64, test_gen(), &t));
        moments(t, &m, &v);
        CHECK(fabs(m) < 0.01 && fabs(v - 1) < 0.02);
        CHECK_OK(mm_rand(MM_SHAPE(200000), MM_F32, test_gen(), &t));
        moments(t, &m, &v);
        CHECK(fabs(m - 0.5) < 0.01 && fabs(v - 1.0 / 12) < 0.005);
        bool in_range = true;
        for (int64_t i = 0; i < t->numel; i++)
            in_range = in_range && at(t, i) >= 0 && at(t, i) < 1;
        CHECK(in_range);
        CHECK_OK(mm_rand(MM_SHAPE(20000), MM_BF16, test_gen(), &t));
        in_range = true;
        for (int64_t i = 0; i < t->numel; i++)
            in_range = in_range && at(t, i) >= 0 && at(t, i) < 1;
        CHECK(in_range);
        CHECK_OK(mm_empty(MM_SHAPE(100000), MM_F32, &t));
        CHECK_OK(mm_tensor_normal_(t, 3, 2, test_gen()));
        moments(t, &m, &v);
        CHECK(fabs(m - 3) < 0.03 && fabs(v - 4) < 0.1);
        CHECK_OK(mm_tensor_uniform_(t, -2, 6, test_gen()));
        moments(t, &m, &v);
        CHECK(fabs(m - 2) < 0.05 && fabs(v - 64.0 / 12) < 0.1);
        CHECK_OK(mm_tensor_bernoulli_(t, 0.25, test_gen()));
        moments(t, &m, &v);
        CHECK(fabs(m - 0.25) < 0.01);
        CHECK_OK(mm_randint(-3, 4, MM_SHAPE(70000), MM_I32, test_gen(), &t));
        moments(t, &m, &v);
        CHECK(fabs(m) < 0.03 &&
              fabs(v - 4) < 0.1); /* uniform on 7 values: var 4 */
        in_range = true;
        for (int64_t i = 0; i < t->numel; i++)
            in_range = in_range && at(t, i) >= -3 && at(t, i) <= 3;
        CHECK(in_range);
    });
}

MM_TEST(randperm_is_a_permutation) {
    POOLED({
        mm_tensor *p;
        CHECK_OK(mm_randperm(1000, MM_I64, test_gen(), &p));
        static bool seen[1000];
        memset(seen, 0, sizeof seen);
        int distinct = 0, fixed = 0;
        for (int i = 0; i < 1000; i++) {
            int64_t v = (int64_t)at(p, i);
            if (v >= 0 && v < 1000 && !seen[v]) {
                seen[v] = true;
                distinct++;
            }
            fixed += v == i;
        }
        CHECK_INT(distinct, 1000);
        CHECK(fixed < 10); /* about one fixed point expected */
        CHECK_OK(mm_randperm(0, MM_I64, test_gen(), &p));
        CHECK_INT(p->numel, 0);
    });
}

MM_TEST(in_place_fills_reach_strided_views) {
    POOLED({
        mm_tensor *t, *col;
        CHECK_OK(mm_zeros(MM_SHAPE(50, 4), MM_F64, &t));
        CHECK_OK(mm_select(t, 1, 2, &col));
        CHECK_OK(mm_tensor_uniform_(col, 1, 2, test_gen()));
        bool ok = true;
        for (int64_t i = 0; i < 200; i++)
            ok = ok &&
                 (i % 4 == 2 ? at(t, i) >= 1 && at(t, i) < 2 : at(t, i) == 0);
        CHECK(ok);
    });
}

MM_TEST(random_errors_are_one_line_messages) {
    POOLED({
        mm_tensor *t, *p;
        CHECK_ERR(mm_rand(MM_SHAPE(3), MM_I64, NULL, &t), MM_ETYPE,
                  "rand: expected a floating-point dtype, got i64");
        CHECK_ERR(mm_randint(5, 5, MM_SHAPE(3), MM_I64, NULL, &t), MM_EINVAL,
                  "randint: empty range [5, 5)");
        CHECK_ERR(mm_randint(0, 300, MM_SHAPE(3), MM_U8, NULL, &t), MM_EINVAL,
                  "randint: [0, 300) does not fit in u8");
        CHECK_OK(mm_full(MM_SHAPE(2), 1.5, MM_F32, &p));
        CHECK_ERR(mm_bernoulli(p, NULL, &t), MM_EINVAL,
                  "bernoulli: probability 1.5 is not in [0, 1]");
        CHECK_ERR(mm_randperm(-1, MM_I64, NULL, &t), MM_EINVAL,
                  "randperm: n must be non-negative (got -1)");
    });
}

MM_TEST_MAIN(MM_CASE(philox_matches_random123_known_answers),
             MM_CASE(rand_uses_the_documented_counter_layout),
             MM_CASE(same_seed_same_numbers_and_state_resumes_the_stream),
             MM_CASE(random_tensors_do_not_depend_on_the_thread_count),
             MM_CASE(distributions_have_the_right_moments),
             MM_CASE(randperm_is_a_permutation),
             MM_CASE(in_place_fills_reach_strided_views),
             MM_CASE(random_errors_are_one_line_messages))
