/* Storage, the tensor struct's lifetime, properties and element access, and
 * the mm_value class of tensors. */
#include "tensor_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shapes ------------------------------------------------------------- */

void mm_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= shape[d] > 1 ? shape[d] : 1;
    }
}

int64_t mm_shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}

char *mm_shape_format(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t len = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    len += (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && len < size; d++)
        len += (size_t)snprintf(buf + len, size - len, d ? ", %lld" : "%lld",
                                (long long)shape[d]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
    return buf;
}

char *mm_device_format(mm_device dev, char *buf, size_t size) {
    if (dev.type == MM_DEVICE_CPU)
        snprintf(buf, size, "cpu");
    else
        snprintf(buf, size, "cuda:%d", dev.index);
    return buf;
}

char *mm_tensor_describe(const mm_tensor *t, char *buf, size_t size) {
    char shape[256];
    if (!t) {
        snprintf(buf, size, "tensor(null)");
        return buf;
    }
    mm_shape_format(t->ndim, t->shape, shape, sizeof shape);
    if (t->device.type == MM_DEVICE_CPU) {
        snprintf(buf, size, "tensor(%s, %s)", mm_dtype_name(t->dtype), shape);
    } else {
        char dev[32];
        snprintf(buf, size, "tensor(%s, %s, %s)", mm_dtype_name(t->dtype),
                 shape, mm_device_format(t->device, dev, sizeof dev));
    }
    return buf;
}

int mm_check_shape(const char *op, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > MM_MAX_DIMS)
        return mm_error_set(MM_EINVAL, "%s: %d dims (at most %d are supported)",
                            op, ndim, MM_MAX_DIMS);
    if (ndim > 0 && !shape)
        return mm_error_set(MM_EINVAL, "%s: no shape given", op);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            char buf[256];
            return mm_error_set(MM_EINVAL, "%s: negative size in shape %s", op,
                                mm_shape_format(ndim, shape, buf, sizeof buf));
        }
        if (shape[d] && n > INT64_MAX / 16 / shape[d]) {
            char buf[256];
            return mm_error_set(MM_EINVAL, "%s: shape %s is too large", op,
                                mm_shape_format(ndim, shape, buf, sizeof buf));
        }
        n *= shape[d];
    }
    return 0;
}

int mm_dim_wrap(const char *op, int dim, int ndim, int *out) {
    int n = ndim > 0 ? ndim : 1; /* a scalar accepts dims -1 and 0 */
    if (dim < -n || dim >= n)
        return mm_error_set(MM_EINVAL,
                            "%s: dim %d out of range for a tensor of %d dims",
                            op, dim, ndim);
    *out = dim < 0 ? dim + n : dim;
    return 0;
}

/* ---- storage ------------------------------------------------------------ */

static mm_storage *storage_new(size_t nbytes, mm_device dev) {
    if (dev.type != MM_DEVICE_CPU) {
        char buf[32];
        mm_error_set(MM_EUNSUPPORTED, "tensor: device %s is not available",
                     mm_device_format(dev, buf, sizeof buf));
        return NULL;
    }
    mm_storage *s = calloc(1, sizeof *s);
    if (!s) {
        mm_error_set(MM_ENOMEM, "tensor: out of memory");
        return NULL;
    }
    size_t block;
    s->data = mm_cpu_alloc(nbytes, &block);
    if (!s->data) {
        free(s);
        mm_error_set(MM_ENOMEM, "tensor: out of memory allocating %zu bytes",
                     nbytes);
        return NULL;
    }
    s->nbytes = nbytes;
    s->block_size = block;
    s->device = dev;
    s->refs = 1;
    return s;
}

static void storage_release(mm_storage *s) {
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (s->deleter)
        s->deleter(s->data, s->deleter_ctx);
    else if (s->block_size)
        mm_cpu_free(s->data, s->block_size);
    free(s);
}

/* ---- tensor lifetime ---------------------------------------------------- */

static mm_tensor *tensor_struct(mm_dtype dtype, mm_device dev, int ndim,
                                const int64_t *shape) {
    mm_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        mm_error_set(MM_ENOMEM, "tensor: out of memory");
        return NULL;
    }
    t->dtype = dtype;
    t->device = dev;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    mm_contiguous_strides(ndim, t->shape, t->stride);
    t->numel = mm_shape_numel(ndim, t->shape);
    t->refs = 1;
    return t;
}

int mm_tensor_new_owned(int ndim, const int64_t *shape, mm_dtype dtype,
                        mm_device dev, mm_tensor **out) {
    if ((unsigned)dtype >= MM_DTYPE_COUNT)
        return mm_error_set(MM_EINVAL, "tensor: invalid dtype %d", (int)dtype);
    MM_TRY(mm_check_shape("tensor", ndim, shape));
    mm_tensor *t = tensor_struct(dtype, dev, ndim, shape);
    if (!t)
        return MM_ENOMEM;
    t->storage = storage_new((size_t)t->numel * mm_dtype_size(dtype), dev);
    if (!t->storage) {
        free(t);
        return mm_error_code();
    }
    *out = t;
    return 0;
}

void mm_channels_last_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = shape[1];
    stride[1] = 1;
    for (int d = ndim - 1; d >= 2; d--) {
        stride[d] = s;
        s *= shape[d];
    }
    stride[0] = s;
}

int mm_tensor_new_owned_format(int ndim, const int64_t *shape, mm_dtype dtype,
                               mm_device dev, mm_memory_format format,
                               mm_tensor **out) {
    if (format == MM_FORMAT_CHANNELS_LAST && (ndim < 3 || ndim > 5))
        return mm_error_set(MM_EINVAL,
                            "tensor: channels-last needs 3 to 5 dims, got %d",
                            ndim);
    MM_TRY(mm_tensor_new_owned(ndim, shape, dtype, dev, out));
    if (format == MM_FORMAT_CHANNELS_LAST)
        mm_channels_last_strides(ndim, shape, (*out)->stride);
    return 0;
}

mm_tensor *mm_tensor_alias(const mm_tensor *t) {
    mm_tensor *a = tensor_struct(t->dtype, t->device, t->ndim, t->shape);
    if (!a)
        return NULL;
    memcpy(a->stride, t->stride, sizeof a->stride);
    a->offset = t->offset;
    a->storage = t->storage;
    __atomic_add_fetch(&t->storage->refs, 1, __ATOMIC_RELAXED);
    return a;
}

mm_tensor *mm_tensor_retain(mm_tensor *t) {
    if (t)
        __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
    return t;
}

/* Tensors whose count reached zero wait here, so that freeing a long chain
 * of nodes (each holding its inputs) is a loop, not a deep recursion. */
static _Thread_local struct {
    mm_tensor **items;
    size_t len, cap;
    bool draining;
} dying;

static void tensor_destroy(mm_tensor *t) {
    if (t->grad_fn)
        mm_node_free(t->grad_fn);
    mm_tensor_release(t->grad);
    storage_release(t->storage);
    free(t);
}

void mm_tensor_release(mm_tensor *t) {
    if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (dying.len == dying.cap) {
        size_t cap = dying.cap ? dying.cap * 2 : 64;
        mm_tensor **items = realloc(dying.items, cap * sizeof *items);
        if (!items) { /* no memory for the queue: free right here */
            tensor_destroy(t);
            return;
        }
        dying.items = items;
        dying.cap = cap;
    }
    dying.items[dying.len++] = t;
    if (dying.draining)
        return;
    dying.draining = true;
    while (dying.len)
        tensor_destroy(dying.items[--dying.len]);
    dying.draining = false;
    free(dying.items);
    dying.items = NULL;
    dying.cap = 0;
}

int mm_tensor_publish(mm_tensor *t, mm_tensor **out) {
    MM_TRY(mm_tensor_autorelease(t));
    *out = t;
    return 0;
}

/* ---- creation primitives ------------------------------------------------ */

int mm_empty_on(int ndim, const int64_t *shape, mm_dtype dtype, mm_device dev,
                mm_tensor **out) {
    mm_tensor *t;
    MM_TRY(mm_tensor_new_owned(ndim, shape, dtype, dev, &t));
    return mm_tensor_publish(t, out);
}

int mm_empty(int ndim, const int64_t *shape, mm_dtype dtype, mm_tensor **out) {
    return mm_empty_on(ndim, shape, dtype, MM_CPU, out);
}

int mm_empty_like(const mm_tensor *like, mm_tensor **out) {
    return mm_empty_on(like->ndim, like->shape, like->dtype, like->device, out);
}

static int blob_new(void *data, int ndim, const int64_t *shape, mm_dtype dtype,
                    void (*deleter)(void *data, void *ctx), void *ctx,
                    mm_tensor **out) {
    if ((unsigned)dtype >= MM_DTYPE_COUNT)
        return mm_error_set(MM_EINVAL, "from_blob: invalid dtype %d",
                            (int)dtype);
    MM_TRY(mm_check_shape("from_blob", ndim, shape));
    mm_tensor *t = tensor_struct(dtype, MM_CPU, ndim, shape);
    mm_storage *s = calloc(1, sizeof *s);
    if (!t || !s) {
        free(t);
        free(s);
        return mm_error_set(MM_ENOMEM, "from_blob: out of memory");
    }
    s->data = data;
    s->nbytes = (size_t)t->numel * mm_dtype_size(dtype);
    s->device = MM_CPU;
    s->refs = 1;
    s->deleter = deleter;
    s->deleter_ctx = ctx;
    t->storage = s;
    *out = t;
    return 0;
}

int mm_from_blob(void *data, int ndim, const int64_t *shape, mm_dtype dtype,
                 void (*deleter)(void *data, void *ctx), void *ctx,
                 mm_tensor **out) {
    mm_tensor *t;
    MM_TRY(blob_new(data, ndim, shape, dtype, deleter, ctx, &t));
    return mm_tensor_publish(t, out);
}

/* ---- properties --------------------------------------------------------- */

/* The k-th dim of t counted from the innermost in memory: row-major, or
 * channels-last (C, then the last spatial dim .. the first, then N). */
static int dim_inner(const mm_tensor *t, bool channels_last, int k) {
    if (!channels_last)
        return t->ndim - 1 - k;
    return k == 0 ? 1 : k == t->ndim - 1 ? 0 : t->ndim - k;
}

/* Dense in that order; size-1 dims do not count. */
static bool dense_in_order(const mm_tensor *t, bool channels_last) {
    int64_t expect = 1;
    for (int k = 0; k < t->ndim; k++) {
        int d = dim_inner(t, channels_last, k);
        if (t->shape[d] == 1)
            continue;
        if (t->stride[d] != expect)
            return t->numel == 0;
        expect *= t->shape[d];
    }
    return true;
}

bool mm_tensor_is_contiguous(const mm_tensor *t) {
    return dense_in_order(t, false);
}

bool mm_tensor_is_channels_last(const mm_tensor *t) {
    return t->ndim >= 3 && t->ndim <= 5 && dense_in_order(t, true);
}

mm_memory_format mm_tensor_layout(const mm_tensor *t) {
    return mm_tensor_is_channels_last(t) && !mm_tensor_is_contiguous(t)
               ? MM_FORMAT_CHANNELS_LAST
               : MM_FORMAT_CONTIGUOUS;
}

int64_t mm_tensor_size(const mm_tensor *t, int dim) {
    if (t->ndim == 0)
        return dim == 0 || dim == -1 ? 1 : -1;
    if (dim < -t->ndim || dim >= t->ndim)
        return -1;
    return t->shape[dim < 0 ? dim + t->ndim : dim];
}

bool mm_tensor_same_shape(const mm_tensor *a, const mm_tensor *b) {
    if (a->ndim != b->ndim)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return false;
    return true;
}

/* ---- element access ----------------------------------------------------- */

static int check_cpu(const char *op, const mm_tensor *t) {
    if (!t)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op);
    if (t->device.type != MM_DEVICE_CPU)
        return mm_error_set(MM_EUNSUPPORTED, "%s: tensor is not on the CPU",
                            op);
    return 0;
}

int mm_tensor_item(const mm_tensor *t, double *out) {
    MM_TRY(check_cpu("item", t));
    if (t->numel != 1)
        return mm_error_set(
            MM_EINVAL,
            "item: a tensor with %lld elements cannot be converted to a scalar",
            (long long)t->numel);
    *out = mm_load_f64(mm_tensor_data(t), t->dtype);
    return 0;
}

int mm_tensor_item_i64(const mm_tensor *t, int64_t *out) {
    MM_TRY(check_cpu("item", t));
    if (t->numel != 1)
        return mm_error_set(
            MM_EINVAL,
            "item: a tensor with %lld elements cannot be converted to a scalar",
            (long long)t->numel);
    *out = mm_load_i64(mm_tensor_data(t), t->dtype);
    return 0;
}

static int index_offset(const char *op, const mm_tensor *t,
                        const int64_t *index, int64_t *off) {
    int64_t o = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        int64_t i = index[d] < 0 ? index[d] + t->shape[d] : index[d];
        if (i < 0 || i >= t->shape[d])
            return mm_error_set(
                MM_ERANGE,
                "%s: index %lld out of range for dim %d of size %lld", op,
                (long long)index[d], d, (long long)t->shape[d]);
        o += i * t->stride[d];
    }
    *off = o * (int64_t)mm_dtype_size(t->dtype);
    return 0;
}

int mm_tensor_get(const mm_tensor *t, const int64_t *index, double *out) {
    MM_TRY(check_cpu("get", t));
    int64_t off;
    MM_TRY(index_offset("get", t, index, &off));
    *out = mm_load_f64((char *)t->storage->data + off, t->dtype);
    return 0;
}

int mm_tensor_set(mm_tensor *t, const int64_t *index, double value) {
    MM_TRY(check_cpu("set", t));
    MM_TRY(mm_check_inplace("set", t));
    int64_t off;
    MM_TRY(index_offset("set", t, index, &off));
    mm_store_f64((char *)t->storage->data + off, t->dtype, value);
    return 0;
}

double mm_tensor_get_flat(const mm_tensor *t, int64_t i) {
    MM_ASSERT(t && i >= 0 && i < t->numel && t->device.type == MM_DEVICE_CPU);
    return mm_load_f64((char *)t->storage->data + mm_tensor_elem_offset(t, i),
                       t->dtype);
}

void mm_tensor_set_flat(mm_tensor *t, int64_t i, double value) {
    MM_ASSERT(t && i >= 0 && i < t->numel && t->device.type == MM_DEVICE_CPU);
    mm_store_f64((char *)t->storage->data + mm_tensor_elem_offset(t, i),
                 t->dtype, value);
}

int mm_tensor_read(const mm_tensor *t, mm_dtype dtype, void *buf,
                   int64_t capacity) {
    MM_TRY(check_cpu("read", t));
    if (capacity < t->numel)
        return mm_error_set(MM_ERANGE,
                            "read: buffer holds %lld elements, tensor has %lld",
                            (long long)capacity, (long long)t->numel);
    if (t->numel == 0)
        return 0;
    mm_tensor *dst;
    MM_TRY(blob_new(buf, t->ndim, t->shape, dtype, NULL, NULL, &dst));
    int rc = mm_copy_strided(dst, t);
    mm_tensor_release(dst);
    return rc;
}

/* ---- the mm_value class ------------------------------------------------- */

static void value_retain(void *obj) { mm_tensor_retain(obj); }
static void value_release(void *obj) { mm_tensor_release(obj); }
static void value_describe(const void *obj, char *buf, size_t size) {
    mm_tensor_describe(obj, buf, size);
}

const mm_value_object_class mm_tensor_value_class = {
    .name = "tensor",
    .retain = value_retain,
    .release = value_release,
    .describe = value_describe,
};

mm_value *mm_tensor_to_value(mm_tensor *t) {
    return mm_value_new_tensor(t, &mm_tensor_value_class);
}

mm_tensor *mm_tensor_from_value(const mm_value *v) {
    if (!v || mm_value_type_of(v) != MM_VALUE_TENSOR)
        return NULL;
    return mm_value_get_tensor(v);
}
