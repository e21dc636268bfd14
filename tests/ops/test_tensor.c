/* Tensors: dtypes, half conversions, lifetime, pools, the allocator,
 * creation and element access, conversions, the mm_value slot. */
#include <stdint.h>
#include <string.h>

#include "ops_testing.h"

MM_TEST(dtype_table_has_names_sizes_and_kinds) {
    CHECK_STR(mm_dtype_name(MM_F32), "f32");
    CHECK_STR(mm_dtype_name(MM_BF16), "bf16");
    CHECK_INT(mm_dtype_size(MM_F64), 8);
    CHECK_INT(mm_dtype_size(MM_F16), 2);
    CHECK_INT(mm_dtype_size(MM_BOOL), 1);
    CHECK(mm_dtype_is_float(MM_BF16));
    CHECK(!mm_dtype_is_float(MM_I64));
    for (int i = 0; i < MM_DTYPE_COUNT; i++)
        CHECK(mm_dtype_info[i].name && mm_dtype_info[i].size > 0);
}

MM_TEST(dtype_parse_accepts_ours_torch_and_safetensors_names) {
    mm_dtype dt;
    CHECK_OK(mm_dtype_parse("float32", &dt));
    CHECK_INT(dt, MM_F32);
    CHECK_OK(mm_dtype_parse("BF16", &dt));
    CHECK_INT(dt, MM_BF16);
    CHECK_OK(mm_dtype_parse("half", &dt));
    CHECK_INT(dt, MM_F16);
    CHECK_OK(mm_dtype_parse("torch.int64", &dt));
    CHECK_INT(dt, MM_I64);
    CHECK_OK(mm_dtype_parse("u8", &dt));
    CHECK_INT(dt, MM_U8);
    CHECK_ERR(mm_dtype_parse("float128", &dt), MM_EINVAL,
              "dtype: unknown dtype 'float128'");
}

MM_TEST(dtype_promotion_follows_pytorch) {
    CHECK_INT(mm_dtype_promote(MM_F32, MM_F64), MM_F64);
    CHECK_INT(mm_dtype_promote(MM_F16, MM_BF16), MM_F32);
    CHECK_INT(mm_dtype_promote(MM_BF16, MM_F32), MM_F32);
    CHECK_INT(mm_dtype_promote(MM_I64, MM_F16), MM_F16);
    CHECK_INT(mm_dtype_promote(MM_U8, MM_I32), MM_I32);
    CHECK_INT(mm_dtype_promote(MM_BOOL, MM_U8), MM_U8);
}

MM_TEST(half_conversion_rounds_to_nearest_even) {
    CHECK_INT(mm_f32_to_f16(1.0f), 0x3c00);
    CHECK_INT(mm_f32_to_f16(-2.0f), 0xc000);
    CHECK_INT(mm_f32_to_f16(65504.0f), 0x7bff);
    CHECK_INT(mm_f32_to_f16(65520.0f), 0x7c00);        /* rounds up to inf */
    CHECK_INT(mm_f32_to_f16(1.0f + 0x1p-11f), 0x3c00); /* tie: to even */
    CHECK_INT(mm_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02); /* tie: to even */
    CHECK_INT(mm_f32_to_f16(0x1p-24f), 0x0001); /* smallest subnormal */
    CHECK_INT(mm_f32_to_f16(0x1p-26f), 0x0000);
    CHECK_INT(mm_f32_to_f16(INFINITY), 0x7c00);
    CHECK((mm_f32_to_f16(NAN) & 0x7c00) == 0x7c00 &&
          (mm_f32_to_f16(NAN) & 0x3ff));
    CHECK(mm_f16_to_f32(0x3c00) == 1.0f);
    CHECK(mm_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(mm_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(isnan(mm_f16_to_f32(0x7e00)));
    for (uint32_t h = 0; h < 0x7c00; h++) /* every finite half round-trips */
        if (mm_f32_to_f16(mm_f16_to_f32((uint16_t)h)) != h) {
            CHECK_INT(mm_f32_to_f16(mm_f16_to_f32((uint16_t)h)), h);
            break;
        }
}

MM_TEST(bfloat16_conversion_rounds_to_nearest_even) {
    CHECK_INT(mm_f32_to_bf16(1.0f), 0x3f80);
    CHECK_INT(mm_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);     /* tie: to even */
    CHECK_INT(mm_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82); /* tie: to even */
    CHECK_INT(mm_f32_to_bf16(1.0f + 0x1p-7f), 0x3f81);
    CHECK_INT(mm_f32_to_bf16(3.4e38f), 0x7f80); /* overflow to inf */
    CHECK(isnan(mm_bf16_to_f32(mm_f32_to_bf16(NAN))));
    CHECK(mm_bf16_to_f32(0x4049) == 3.140625f);
}

MM_TEST(tensor_without_pool_is_owned_and_freed_by_release) {
    CHECK_INT(mm_pool_depth(), 0);
    mm_memory_stats a, b;
    mm_memory_stats_get(MM_CPU, &a);
    mm_tensor *t;
    CHECK_OK(mm_zeros(MM_SHAPE(2, 3), MM_F32, &t));
    CHECK_INT(t->refs, 1);
    CHECK_INT(t->numel, 6);
    CHECK_INT(t->stride[0], 3);
    CHECK_INT(t->stride[1], 1);
    CHECK(((uintptr_t)t->storage->data & 63) == 0);
    mm_tensor_retain(t);
    mm_tensor_release(t);
    mm_memory_stats_get(MM_CPU, &b);
    CHECK_INT(b.allocated_bytes - a.allocated_bytes, 64);
    mm_tensor_release(t);
    mm_memory_stats_get(MM_CPU, &b);
    CHECK_INT(b.allocated_bytes, a.allocated_bytes);
}

MM_TEST(pool_releases_its_tensors_on_close) {
    mm_memory_stats a, b;
    mm_memory_stats_get(MM_CPU, &a);
    mm_pool *p;
    CHECK_OK(mm_pool_open(&p));
    CHECK_INT(mm_pool_depth(), 1);
    mm_tensor *x, *y;
    CHECK_OK(mm_ones(MM_SHAPE(100), MM_F64, &x));
    CHECK_OK(mm_add(x, x, &y));
    CHECK_INT(mm_pool_size(p), 2);
    mm_memory_stats_get(MM_CPU, &b);
    CHECK(b.allocated_bytes > a.allocated_bytes);
    mm_pool_close(p);
    CHECK_INT(mm_pool_depth(), 0);
    mm_memory_stats_get(MM_CPU, &b);
    CHECK_INT(b.allocated_bytes, a.allocated_bytes);
}

MM_TEST(retained_tensor_survives_its_pool) {
    mm_pool *p;
    CHECK_OK(mm_pool_open(&p));
    mm_tensor *t;
    CHECK_OK(mm_full(MM_SHAPE(3), 7.0, MM_I64, &t));
    mm_tensor_retain(t);
    mm_pool_close(p);
    CHECK_INT(t->refs, 1);
    CHECK(at(t, 2) == 7.0);
    mm_tensor_release(t);
}

MM_TEST(nested_pools_release_innermost_first_and_outer_close_closes_inner) {
    mm_pool *outer, *inner;
    CHECK_OK(mm_pool_open(&outer));
    mm_tensor *a, *b;
    CHECK_OK(mm_zeros(MM_SHAPE(4), MM_F32, &a));
    CHECK_OK(mm_pool_open(&inner));
    CHECK_INT(mm_pool_depth(), 2);
    CHECK_OK(mm_zeros(MM_SHAPE(4), MM_F32, &b));
    CHECK_INT(mm_pool_size(inner), 1);
    CHECK_INT(mm_pool_size(outer), 1);
    mm_pool_close(inner);
    CHECK_INT(a->refs, 1); /* still held by outer */
    CHECK_OK(mm_pool_open(&inner));
    CHECK_OK(mm_zeros(MM_SHAPE(4), MM_F32, &b));
    mm_pool_close(outer); /* closes inner too */
    CHECK_INT(mm_pool_depth(), 0);
}

MM_TEST(pool_close_keep_moves_the_result_to_the_outer_pool) {
    mm_pool *outer, *inner;
    CHECK_OK(mm_pool_open(&outer));
    CHECK_OK(mm_pool_open(&inner));
    mm_tensor *t, *kept;
    CHECK_OK(mm_ones(MM_SHAPE(2), MM_F32, &t));
    CHECK_OK(mm_pool_close_keep(inner, t, &kept));
    CHECK(kept == t);
    CHECK_INT(mm_pool_size(outer), 1);
    CHECK_INT(t->refs, 1);
    mm_pool_close(outer);
}

MM_TEST(long_chains_of_nodes_free_without_deep_recursion) {
    mm_pool *p;
    CHECK_OK(mm_pool_open(&p));
    mm_tensor *x;
    CHECK_OK(mm_ones(MM_SHAPE(1), MM_F32, &x));
    CHECK_OK(mm_tensor_set_requires_grad(x, true));
    mm_tensor *keep = x;
    for (int i = 0; i < 200000; i++)
        CHECK_OK(mm_add_scalar(keep, 1.0, &keep));
    /* only the last tensor stays referenced outside: its graph owns the rest */
    mm_tensor_retain(keep);
    mm_pool_close(p);
    mm_tensor_release(keep); /* frees 200000 nodes in a loop */
}

MM_TEST(allocator_reuses_cached_blocks_and_reports_peak) {
    mm_memory_empty_cache(MM_CPU);
    mm_memory_reset_peak(MM_CPU);
    mm_memory_stats s0, s1, s2;
    mm_memory_stats_get(MM_CPU, &s0);
    CHECK_INT(s0.cached_bytes, 0);
    mm_tensor *t;
    CHECK_OK(mm_empty(MM_SHAPE(1000), MM_F32, &t)); /* 4000 B -> 4096 class */
    mm_memory_stats_get(MM_CPU, &s1);
    CHECK_INT(s1.allocated_bytes - s0.allocated_bytes, 4096);
    CHECK_INT(s1.peak_bytes, s1.allocated_bytes);
    mm_tensor_release(t);
    mm_memory_stats_get(MM_CPU, &s2);
    CHECK_INT(s2.allocated_bytes, s0.allocated_bytes);
    CHECK_INT(s2.cached_bytes, 4096);
    CHECK_INT(s2.peak_bytes, s1.peak_bytes);
    CHECK_OK(
        mm_empty(MM_SHAPE(1020), MM_F32, &t)); /* same class: a cache hit */
    mm_memory_stats_get(MM_CPU, &s1);
    CHECK_INT(s1.n_cache_hits, s2.n_cache_hits + 1);
    CHECK_INT(s1.cached_bytes, 0);
    mm_tensor_release(t);
    mm_memory_empty_cache(MM_CPU);
    mm_memory_stats_get(MM_CPU, &s2);
    CHECK_INT(s2.cached_bytes, 0);
    CHECK(mm_memory_peak_mib(MM_CPU) >= 1);
}

MM_TEST(allocator_cache_limit_sends_blocks_back) {
    mm_memory_empty_cache(MM_CPU);
    mm_memory_set_cache_limit(MM_CPU, 1024);
    mm_tensor *t;
    CHECK_OK(mm_empty(MM_SHAPE(4096), MM_U8, &t));
    mm_tensor_release(t);
    mm_memory_stats s;
    mm_memory_stats_get(MM_CPU, &s);
    CHECK_INT(s.cached_bytes, 0);
    mm_memory_set_cache_limit(MM_CPU, (size_t)1 << 30);
}

MM_TEST(creation_functions_fill_as_torch) {
    POOLED({
        mm_tensor *t;
        CHECK_OK(mm_arange(0, 5, 1, MM_I64, &t));
        CHECK_INT(t->numel, 5);
        CHECK(at(t, 4) == 4);
        CHECK_OK(mm_arange(1, 0, -0.25, MM_F32, &t));
        CHECK_INT(t->numel, 4);
        CHECK(at(t, 3) == 0.25);
        CHECK_OK(mm_linspace(0, 1, 5, MM_F64, &t));
        CHECK(at(t, 0) == 0 && at(t, 2) == 0.5 && at(t, 4) == 1);
        CHECK_OK(mm_linspace(3, 7, 1, MM_F64, &t));
        CHECK(at(t, 0) == 3);
        CHECK_OK(mm_eye(2, 3, MM_F32, &t));
        CHECK(at(t, 0) == 1 && at(t, 1) == 0 && at(t, 4) == 1 && at(t, 5) == 0);
        CHECK_OK(mm_full(MM_SHAPE(2, 2), 2.5, MM_BF16, &t));
        CHECK(at(t, 3) == 2.5);
        const int32_t data[6] = {1, 2, 3, 4, 5, 6};
        CHECK_OK(mm_from_data(data, MM_SHAPE(2, 3), MM_I32, &t));
        int64_t idx[2] = {1, -1};
        double v;
        CHECK_OK(mm_tensor_get(t, idx, &v));
        CHECK(v == 6);
        CHECK_OK(mm_tensor_set(t, idx, 60));
        CHECK(at(t, 5) == 60);
        CHECK_OK(mm_scalar(3.5, MM_F64, &t));
        CHECK_INT(t->ndim, 0);
        CHECK_OK(mm_tensor_item(t, &v));
        CHECK(v == 3.5);
        CHECK_OK(mm_zeros(MM_SHAPE(0, 3), MM_F32, &t));
        CHECK_INT(t->numel, 0);
    });
}

MM_TEST(creation_errors_are_one_line_messages) {
    POOLED({
        mm_tensor *t;
        CHECK_ERR(mm_zeros(MM_SHAPE(2, -1), MM_F32, &t), MM_EINVAL,
                  "tensor: negative size in shape [2, -1]");
        CHECK_ERR(mm_arange(0, 5, -1, MM_F32, &t), MM_EINVAL,
                  "arange: the bounds [0, 5) are inconsistent with step -1");
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3), MM_F32, &t));
        double v;
        CHECK_ERR(
            mm_tensor_item(t, &v), MM_EINVAL,
            "item: a tensor with 6 elements cannot be converted to a scalar");
        int64_t idx[2] = {2, 0};
        CHECK_ERR(mm_tensor_get(t, idx, &v), MM_ERANGE,
                  "get: index 2 out of range for dim 0 of size 2");
        int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        CHECK_ERR(mm_zeros(9, nine, MM_F32, &t), MM_EINVAL,
                  "tensor: 9 dims (at most 8 are supported)");
    });
}

MM_TEST(to_dtype_converts_and_saturates) {
    POOLED({
        const double data[5] = {1.7, -2.5, 300.0, -1e30, NAN};
        mm_tensor *t, *u;
        CHECK_OK(mm_from_data(data, MM_SHAPE(5), MM_F64, &t));
        CHECK_OK(mm_to_dtype(t, MM_U8, &u));
        CHECK(at(u, 0) == 1 && at(u, 1) == 0 && at(u, 2) == 255 &&
              at(u, 4) == 0);
        CHECK_OK(mm_to_dtype(t, MM_I32, &u));
        CHECK(at(u, 0) == 1 && at(u, 1) == -2 && at(u, 3) == INT32_MIN);
        CHECK_OK(mm_to_dtype(t, MM_F16, &u));
        CHECK(at(u, 2) == 300 && isinf(at(u, 3)));
        CHECK_OK(mm_to_dtype(t, MM_BOOL, &u));
        CHECK(at(u, 0) == 1 && at(u, 4) == 1);
        CHECK_OK(mm_to_dtype(t, MM_F64, &u));
        CHECK(u == t); /* same dtype: the tensor itself */
        int64_t big[2] = {INT64_C(9007199254740993), -5};
        CHECK_OK(mm_from_data(big, MM_SHAPE(2), MM_I64, &t));
        CHECK_OK(mm_to_dtype(t, MM_I32, &u));
        CHECK_OK(mm_to_dtype(u, MM_I64, &u));
        int64_t back[2];
        CHECK_OK(mm_tensor_read(t, MM_I64, back, 2));
        CHECK(back[0] == INT64_C(9007199254740993)); /* integers copy exactly */
    });
}

MM_TEST(read_copies_any_layout_out_row_major) {
    POOLED({
        mm_tensor *t, *tt;
        CHECK_OK(mm_arange(0, 6, 1, MM_F32, &t));
        CHECK_OK(mm_view(t, MM_SHAPE(2, 3), &t));
        CHECK_OK(mm_transpose(t, 0, 1, &tt));
        double buf[6];
        CHECK_OK(mm_tensor_read(tt, MM_F64, buf, 6));
        CHECK(buf[0] == 0 && buf[1] == 3 && buf[2] == 1 && buf[5] == 5);
        CHECK_ERR(mm_tensor_read(tt, MM_F64, buf, 5), MM_ERANGE,
                  "read: buffer holds 5 elements, tensor has 6");
    });
}

static void count_deletes(void *data, void *ctx) {
    (void)data;
    (*(int *)ctx)++;
}

MM_TEST(from_blob_wraps_memory_and_runs_the_deleter) {
    int deleted = 0;
    float data[4] = {1, 2, 3, 4};
    mm_tensor *t, *v;
    CHECK_OK(mm_from_blob(data, MM_SHAPE(2, 2), MM_F32, count_deletes, &deleted,
                          &t));
    CHECK(mm_tensor_data(t) == data);
    CHECK_OK(mm_transpose(t, 0, 1, &v)); /* no pool open: both are ours */
    mm_tensor_release(t);
    CHECK_INT(deleted, 0); /* the view keeps the memory */
    CHECK(at(v, 1) == 3);
    mm_tensor_release(v);
    CHECK_INT(deleted, 1);
}

MM_TEST(contiguous_returns_the_same_tensor_or_a_copy) {
    POOLED({
        mm_tensor *t, *c, *tt;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3), MM_F32, &t));
        CHECK_OK(mm_contiguous(t, &c));
        CHECK(c == t);
        CHECK_OK(mm_transpose(t, 0, 1, &tt));
        CHECK(!mm_tensor_is_contiguous(tt));
        CHECK_OK(mm_contiguous(tt, &c));
        CHECK(c != tt && mm_tensor_is_contiguous(c) &&
              c->storage != t->storage);
        CHECK_OK(mm_clone(t, &c));
        CHECK(c->storage != t->storage);
    });
}

MM_TEST(fill_and_copy_work_through_views) {
    POOLED({
        mm_tensor *t, *col, *row;
        CHECK_OK(mm_zeros(MM_SHAPE(3, 4), MM_F64, &t));
        CHECK_OK(mm_select(t, 1, 2, &col));
        CHECK_OK(mm_tensor_fill_(col, 5));
        CHECK(at(t, 2) == 5 && at(t, 6) == 5 && at(t, 10) == 5 &&
              at(t, 3) == 0);
        CHECK_OK(mm_arange(0, 4, 1, MM_F32, &row));
        CHECK_OK(mm_tensor_copy_(t, row)); /* broadcast [4] into [3, 4] */
        CHECK(at(t, 0) == 0 && at(t, 7) == 3 && at(t, 11) == 3);
        mm_tensor *bad;
        CHECK_OK(mm_zeros(MM_SHAPE(3), MM_F32, &bad));
        CHECK_ERR(mm_tensor_copy_(t, bad), MM_EINVAL,
                  "copy_: shape [3] does not broadcast to [3, 4]");
    });
}

MM_TEST(value_slot_holds_a_tensor_and_describes_it) {
    POOLED({
        mm_tensor *t;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3), MM_F32, &t));
        mm_value *v = mm_tensor_to_value(t);
        CHECK(v != NULL);
        CHECK_INT(t->refs, 2);
        CHECK(mm_tensor_from_value(v) == t);
        char buf[64];
        mm_tensor_value_class.describe(t, buf, sizeof buf);
        CHECK_STR(buf, "tensor(f32, [2, 3])");
        /* dumps describe it too */
        mm_value *d = mm_value_new_dict();
        CHECK_OK(mm_value_dict_set(d, "img", v));
        char *json = NULL, *yaml = NULL;
        CHECK_OK(mm_json_dump(d, 0, &json));
        CHECK_STR(json, "{\"img\": \"tensor(f32, [2, 3])\"}");
        CHECK_OK(mm_yaml_dump(d, &yaml));
        CHECK_STR(yaml, "img: 'tensor(f32, [2, 3])'\n");
        free(json);
        free(yaml);
        mm_value_release(d);
        mm_value *c = mm_value_copy(v); /* shares the tensor */
        CHECK(mm_tensor_from_value(c) == t);
        mm_value_release(c);
        mm_value_release(v);
        CHECK_INT(t->refs, 1);
        mm_value *s = mm_value_new_int(3);
        CHECK(mm_tensor_from_value(s) == NULL);
        mm_value_release(s);
    });
}

MM_TEST(thread_count_is_settable) {
    int n = mm_get_num_threads();
    CHECK(n >= 1);
    CHECK_OK(mm_set_num_threads(1));
    CHECK_INT(mm_get_num_threads(), 1);
    CHECK_ERR(mm_set_num_threads(0), MM_EINVAL,
              "threads: 0 is not a valid thread count");
    CHECK_OK(mm_set_num_threads(n));
}

MM_TEST_MAIN(
    MM_CASE(dtype_table_has_names_sizes_and_kinds),
    MM_CASE(dtype_parse_accepts_ours_torch_and_safetensors_names),
    MM_CASE(dtype_promotion_follows_pytorch),
    MM_CASE(half_conversion_rounds_to_nearest_even),
    MM_CASE(bfloat16_conversion_rounds_to_nearest_even),
    MM_CASE(tensor_without_pool_is_owned_and_freed_by_release),
    MM_CASE(pool_releases_its_tensors_on_close),
    MM_CASE(retained_tensor_survives_its_pool),
    MM_CASE(nested_pools_release_innermost_first_and_outer_close_closes_inner),
    MM_CASE(pool_close_keep_moves_the_result_to_the_outer_pool),
    MM_CASE(long_chains_of_nodes_free_without_deep_recursion),
    MM_CASE(allocator_reuses_cached_blocks_and_reports_peak),
    MM_CASE(allocator_cache_limit_sends_blocks_back),
    MM_CASE(creation_functions_fill_as_torch),
    MM_CASE(creation_errors_are_one_line_messages),
    MM_CASE(to_dtype_converts_and_saturates),
    MM_CASE(read_copies_any_layout_out_row_major),
    MM_CASE(from_blob_wraps_memory_and_runs_the_deleter),
    MM_CASE(contiguous_returns_the_same_tensor_or_a_copy),
    MM_CASE(fill_and_copy_work_through_views),
    MM_CASE(value_slot_holds_a_tensor_and_describes_it),
    MM_CASE(thread_count_is_settable))
