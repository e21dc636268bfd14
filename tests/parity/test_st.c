/* The parity driver's safetensors reader and writer: round trips, and every
 * malformed file refused with a message (never a crash or a read outside
 * the buffer): bad offsets, holes, overlaps, truncation at every byte,
 * random corruption. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "st.h"

/* A file from a header text and n data bytes (zeros). */
static uint8_t *make(const char *header, size_t ndata, size_t *len) {
    size_t hl = strlen(header);
    uint8_t *b = calloc(1, 8 + hl + ndata);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    *len = 8 + hl + ndata;
    return b;
}

static int parse_text(const char *header, size_t ndata) {
    size_t len;
    uint8_t *b = make(header, ndata, &len);
    st_file f;
    int rc = st_parse(b, len, &f);
    if (rc == 0)
        st_file_free(&f);
    free(b);
    return rc;
}

MM_TEST(round_trip_keeps_names_dtypes_shapes_values_metadata) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *a, *b, *c, *at;
    CHECK_OK(mm_arange(0, 6, 1, MM_F32, &a));
    CHECK_OK(mm_reshape(a, MM_SHAPE(2, 3), &a));
    CHECK_OK(mm_transpose(a, 0, 1, &at)); /* written row-major */
    CHECK_OK(mm_full(MM_SHAPE(0, 4), 1, MM_F64, &b));
    CHECK_OK(mm_scalar(7, MM_I64, &c));
    mm_value *meta = mm_value_new_dict();
    CHECK_OK(mm_value_dict_set_take(meta, "op", mm_value_new_string("add")));
    const char *names[] = {"x", "empty", "k"};
    mm_tensor *ts[] = {at, b, c};
    uint8_t *buf;
    size_t len;
    CHECK_OK(st_write(3, names, ts, meta, &buf, &len));
    mm_value_release(meta);
    CHECK_INT((len - 8) % 8, 0); /* data 8-byte aligned */
    st_file f;
    CHECK_OK(st_parse(buf, len, &f));
    CHECK_INT(f.n, 3);
    CHECK_STR(st_meta(&f, "op"), "add");
    const st_entry *e = st_find(&f, "x");
    CHECK(e && e->dtype == MM_F32 && e->ndim == 2 && e->shape[0] == 3);
    mm_tensor *x;
    CHECK_OK(st_to_tensor(e, &x));
    CHECK(mm_allclose(x, at, 0, 0, NULL));
    e = st_find(&f, "empty");
    CHECK(e && e->nbytes == 0 && e->shape[0] == 0 && e->shape[1] == 4);
    e = st_find(&f, "k");
    CHECK(e && e->dtype == MM_I64 && e->ndim == 0 && e->nbytes == 8);
    st_file_free(&f);
    free(buf);
    mm_pool_close(pool);
}

MM_TEST(bad_headers_are_refused) {
    static const struct {
        const char *header;
        size_t ndata;
        const char *msg;
    } cases[] = {
        {"[]", 0, "safetensors: header is not a JSON object"},
        {"{\"a\": 1}", 0, "safetensors: entry 'a' is not an object"},
        {"{\"a\": {\"dtype\": \"F33\", \"shape\": [], \"data_offsets\": [0, 4]}}",
         4, "safetensors: entry 'a' has an unsupported dtype"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}",
         4, "safetensors: entry 'a' has a bad size in its shape"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], "
         "\"data_offsets\": [0, 4]}}",
         4, "safetensors: entry 'a' has no valid shape (a list of at most 8 sizes)"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
         4, "safetensors: entry 'a' has data_offsets outside the data"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 0]}}",
         8, "safetensors: entry 'a' has data_offsets outside the data"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}",
         8, "safetensors: entry 'a': data_offsets do not match its dtype and shape"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4], "
         "\"data_offsets\": [0, 0]}}",
         0, "safetensors: entry 'a': data_offsets do not match its dtype and shape"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
         8, "safetensors: entry 'a' overlaps another or leaves a hole in the data"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
         "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
         8, "safetensors: entry 'b' overlaps another or leaves a hole in the data"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
         12, "safetensors: the data is longer than its tensors"},
        {"{\"__metadata__\": {\"op\": 3}}", 0,
         "safetensors: __metadata__ value 'op' is not a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_ERR(parse_text(cases[i].header, cases[i].ndata), MM_EPARSE,
                  cases[i].msg);
    st_file f;
    uint8_t tiny[4] = {0};
    CHECK_ERR(st_parse(tiny, 4, &f), MM_EPARSE,
              "safetensors: truncated (no header length)");
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_ERR(st_parse(huge, 16, &f), MM_EPARSE,
              "safetensors: header length exceeds the file (truncated?)");
}

MM_TEST(every_truncation_and_corruption_is_refused_or_parsed_safely) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *a, *b;
    CHECK_OK(mm_ones(MM_SHAPE(3, 2), MM_F64, &a));
    CHECK_OK(mm_zeros(MM_SHAPE(5), MM_U8, &b));
    const char *names[] = {"input.0", "grad_output.0"};
    mm_tensor *ts[] = {a, b};
    uint8_t *buf;
    size_t len;
    CHECK_OK(st_write(2, names, ts, NULL, &buf, &len));
    st_file f;
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
        memcpy(copy, buf, n);
        if (st_parse(copy, n, &f) == 0) {
            mm_test_failures++;
            fprintf(stderr, "truncated to %zu of %zu bytes: accepted\n", n, len);
            st_file_free(&f);
        }
        free(copy);
    }
    srand(7);
    for (int k = 0; k < 2000; k++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, buf, len);
        for (int j = 0; j < 3; j++)
            copy[(size_t)rand() % len] = (uint8_t)rand();
        if (st_parse(copy, len, &f) == 0) {
            volatile unsigned sum = 0; /* touch every byte (ASan) */
            for (size_t i = 0; i < f.n; i++)
                for (size_t j = 0; j < f.entries[i].nbytes; j++)
                    sum += f.entries[i].data[j];
            st_file_free(&f);
        }
        free(copy);
    }
    mm_error_clear();
    free(buf);
    mm_pool_close(pool);
}

MM_TEST_MAIN(MM_CASE(round_trip_keeps_names_dtypes_shapes_values_metadata),
             MM_CASE(bad_headers_are_refused),
             MM_CASE(every_truncation_and_corruption_is_refused_or_parsed_safely))
