/* mm/value.h - mm_value, the refcounted dynamic value that glues mm together.
 *
 * An mm_value is null, bool, int64, double, string, list, dict (insertion
 * ordered, string keys) or a tensor slot (an opaque object with retain and
 * release functions, filled in by the tensor layer). It is the config tree,
 * the results dict transforms pass along, data samples and metric results.
 *
 * Every node may carry the source location it was read from (file:line:col),
 * which survives copies, inheritance and overrides, so errors about a value
 * can point at the line that wrote it.
 *
 * Ownership: constructors (mm_value_new_*, mm_value_copy, parsers) return a
 * new reference that the caller releases with mm_value_release. Getters
 * return borrowed pointers valid while the container holds them. Setters
 * retain what they store; the `_take` variants steal the caller's reference
 * (convenient for a freshly made value) and release it even on failure.
 *
 * Text forms: JSON (strict RFC 8259, plus Infinity/NaN as Python writes
 * them) and YAML (libyaml; YAML 1.1 scalars as PyYAML resolves them, see
 * docs/config.md). */
#ifndef MM_VALUE_H
#define MM_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mm_value_type {
    MM_VALUE_NULL,
    MM_VALUE_BOOL,
    MM_VALUE_INT,
    MM_VALUE_FLOAT,
    MM_VALUE_STRING,
    MM_VALUE_LIST,
    MM_VALUE_DICT,
    MM_VALUE_TENSOR,
    MM_VALUE_TYPE_COUNT
} mm_value_type;

typedef struct mm_value mm_value;

/* How a tensor (or any other refcounted object) lives inside an mm_value.
 * The tensor layer provides one of these; base code never looks inside. */
typedef struct mm_value_object_class {
    const char *name; /* "tensor" */
    void (*retain)(void *obj);
    void (*release)(void *obj);
    /* Optional: short description for dumps ("tensor(f32, [2, 3])"). */
    void (*describe)(const void *obj, char *buf, size_t size);
} mm_value_object_class;

/* ---- construction and lifetime ------------------------------------------ */
MM_API mm_value *mm_value_new_null(void);
MM_API mm_value *mm_value_new_bool(bool b);
MM_API mm_value *mm_value_new_int(int64_t i);
MM_API mm_value *mm_value_new_float(double d);
MM_API mm_value *mm_value_new_string(const char *s);
MM_API mm_value *mm_value_new_stringn(const char *s, size_t len);
MM_API mm_value *mm_value_new_list(void);
MM_API mm_value *mm_value_new_dict(void);
MM_API mm_value *mm_value_new_tensor(void *obj,
                                     const mm_value_object_class *cls);

MM_API mm_value *mm_value_retain(mm_value *v);
MM_API void mm_value_release(mm_value *v); /* NULL is fine */

/* Deep copy (tensor slots are shared, retained); locations are kept. */
MM_API mm_value *mm_value_copy(const mm_value *v);

/* ---- inspection --------------------------------------------------------- */
MM_API mm_value_type mm_value_type_of(const mm_value *v);
MM_API const char *mm_value_type_name(mm_value_type t); /* "dict", ... */
MM_API bool mm_value_is_null(const mm_value *v);
MM_API bool mm_value_is_bool(const mm_value *v);
MM_API bool mm_value_is_int(const mm_value *v);
MM_API bool mm_value_is_float(const mm_value *v);
MM_API bool mm_value_is_number(const mm_value *v); /* int or float */
MM_API bool mm_value_is_string(const mm_value *v);
MM_API bool mm_value_is_list(const mm_value *v);
MM_API bool mm_value_is_dict(const mm_value *v);

/* Unchecked accessors: the caller has checked the type. A float getter on
 * an int converts. */
MM_API bool mm_value_get_bool(const mm_value *v);
MM_API int64_t mm_value_get_int(const mm_value *v);
MM_API double mm_value_get_float(const mm_value *v);
MM_API const char *mm_value_get_string(const mm_value *v);
MM_API size_t mm_value_string_len(const mm_value *v);
MM_API void *mm_value_get_tensor(const mm_value *v);
/* The slot's class (NULL if v is not a tensor slot). */
MM_API const mm_value_object_class *mm_value_get_object_class(const mm_value *v);
/* "tensor(f32, [2, 3])" from the class's describe(), else "<tensor>". */
MM_API void mm_value_describe_object(const mm_value *v, char *buf, size_t size);

/* Deep structural equality; ints and floats are different types. Dict key
 * order is not significant. Locations are not compared. */
MM_API bool mm_value_equal(const mm_value *a, const mm_value *b);

/* ---- source locations --------------------------------------------------- */
MM_API const mm_srcloc *mm_value_loc(const mm_value *v);
/* `file` is interned by the call. */
MM_API void mm_value_set_loc(mm_value *v, const char *file, int line, int col);
MM_API void mm_value_set_srcloc(mm_value *v, const mm_srcloc *loc);

/* ---- lists -------------------------------------------------------------- */
/* Length of a list or dict, 0 for anything else. */
MM_API size_t mm_value_len(const mm_value *v);
MM_API mm_value *mm_value_list_get(const mm_value *list, size_t i);
MM_API int mm_value_list_append(mm_value *list, mm_value *item);
MM_API int mm_value_list_append_take(mm_value *list, mm_value *item);
MM_API int mm_value_list_set(mm_value *list, size_t i, mm_value *item);
MM_API int mm_value_list_set_take(mm_value *list, size_t i, mm_value *item);

/* ---- dicts (insertion ordered) ------------------------------------------ */
MM_API mm_value *mm_value_dict_get(const mm_value *dict, const char *key);
/* Position of `key` (for the *_at accessors), or -1 if absent. */
MM_API long mm_value_dict_index(const mm_value *dict, const char *key);
/* Replaces in place (keeping the key's position) or appends. */
MM_API int mm_value_dict_set(mm_value *dict, const char *key, mm_value *val);
MM_API int mm_value_dict_set_take(mm_value *dict, const char *key,
                                  mm_value *val);
/* Removes the key; returns MM_ENOENT (without setting an error) if absent. */
MM_API int mm_value_dict_del(mm_value *dict, const char *key);
MM_API const char *mm_value_dict_key_at(const mm_value *dict, size_t i);
MM_API mm_value *mm_value_dict_value_at(const mm_value *dict, size_t i);
/* The source location of the key itself (where "key:" was written). */
MM_API const mm_srcloc *mm_value_dict_key_loc_at(const mm_value *dict,
                                                 size_t i);
MM_API int mm_value_dict_set_key_loc(mm_value *dict, const char *key,
                                     const mm_srcloc *loc);

/* ---- text forms --------------------------------------------------------- */
/* Parse JSON text. `name` (a file name or "<string>") goes into locations
 * and error messages. */
MM_API int mm_json_parse(const char *text, size_t len, const char *name,
                         mm_value **out) MM_NODISCARD;
/* Serialise as JSON; indent 0 writes one line. The string is malloc'd. */
MM_API int mm_json_dump(const mm_value *v, int indent,
                        char **out) MM_NODISCARD;

/* Parse one YAML document (libyaml). Duplicate keys are an error; anchors
 * and aliases work; scalars resolve as YAML 1.1 (PyYAML). */
MM_API int mm_yaml_parse(const char *text, size_t len, const char *name,
                         mm_value **out) MM_NODISCARD;
/* Serialise as block-style YAML. The string is malloc'd. */
MM_API int mm_yaml_dump(const mm_value *v, char **out) MM_NODISCARD;

/* How a plain (unquoted) YAML scalar resolves: a new value of the type
 * PyYAML would give it. Used by the YAML reader, by overrides and to decide
 * when a string must be quoted on output. */
MM_API mm_value *mm_yaml_resolve_plain(const char *text, size_t len);

/* Read a whole file (UTF-8 text). Errors name the path and the reason. */
MM_API int mm_file_read(const char *path, char **text, size_t *len)
    MM_NODISCARD;
/* Write atomically: a temporary file beside `path`, fsync, rename. */
MM_API int mm_file_write_atomic(const char *path, const void *data,
                                size_t len) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
