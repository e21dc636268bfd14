/* config_fuzz - a deterministic fuzz test of the config loader.
 *
 * Hostile input is the normal case for a config reader, so this program
 * feeds mm_config_load, mm_yaml_parse and mm_json_parse thousands of broken
 * configs and checks the contract every fallible mm call makes: it returns 0
 * or a negative MM_E* code, and on failure leaves one non-empty line that
 * starts with the location it is about. Nothing may crash, abort, hang or
 * leak; what loads must dump to YAML and JSON that read back the same.
 *
 * Inputs are mutants of real configs: the seed files (a fixtures directory
 * plus tests/fuzz/seeds) are copied into a private temp directory so that
 * `_base_` entries resolve, one file is overwritten by a mutant, and a file
 * is loaded, alone and with override strings. A few hand-made hostile
 * inputs (alias and merge-key bombs, deep nesting, cycles, huge lines, bad
 * UTF-8) come first. Each case draws from its own generator, seeded by the
 * run's seed and the case number, so any case replays alone.
 *
 * Cases run in forked children, a batch at a time, so that a crash or a
 * hang fails one case and the run goes on; LeakSanitizer (under ASan)
 * checks each child as it exits, so a leak is pinned to a batch.
 *
 * Usage: config_fuzz [SEED_DIR [PRNG_SEED]]
 *   SEED_DIR   defaults to $MM_FIXTURES/config
 *   PRNG_SEED  defaults to $MM_FUZZ_SEED, else 1
 * Environment: MM_FUZZ_ITERS (mutants, default 3000), MM_FUZZ_CASE (run
 * only that case, verbosely), MM_FUZZ_BATCH (cases per child, default 100;
 * 1 names the case that leaks), MM_FUZZ_HOSTILE (run only the hostile
 * cases whose name contains it; "-" for none), MM_FUZZ_ARTIFACTS (a
 * directory to save the inputs of failing cases into), MM_FUZZ_VERBOSE.
 * The last line is "N passed, N failed"; the exit status is 1 on any
 * failure. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mm/config.h"
#include "mm/value.h"

#if defined(__SANITIZE_ADDRESS__)
#define MM_FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MM_FUZZ_ASAN 1
#endif
#endif

enum {
    DEFAULT_ITERS = 3000,
    DEFAULT_BATCH = 100, /* mutant cases per child */
    MAX_SEED_FILES = 256,
    MAX_SEED_BYTES = 256 << 10,
    MAX_MUTANT_BYTES = 1 << 20,
    MUTANT_LIMIT_S = 5,   /* one mutant case; they take milliseconds */
    HOSTILE_LIMIT_S = 10, /* one hostile case, ASan included */
    /* Address space of a child (not under ASan, whose shadow needs
     * terabytes): a bomb fails on the cap instead of taking the machine. */
    CHILD_MEMORY_MIB = 2048,
};

/* ASan's hook, NULL when the program is built without it: a child that
 * dies on a sanitizer report first names its case and saves its input. */
extern void __sanitizer_set_death_callback(void (*callback)(void))
    __attribute__((weak));

/* UBSan only prints by default; for a fuzzer undefined behaviour is a
 * crash like any other. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) {
    return "print_stacktrace=1:halt_on_error=1";
}

/* ---- deterministic randomness (splitmix64) ------------------------------ */

typedef struct rng {
    uint64_t state;
} rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Case `n` of a run draws from its own stream, so it replays alone. */
static rng rng_for_case(uint64_t seed, int n) {
    rng r = {seed ^ ((uint64_t)n * 0xd1342543de82ef95u)};
    rng_next(&r);
    return r;
}

/* Uniform enough in [0, n); n == 0 gives 0. */
static size_t rng_below(rng *r, size_t n) {
    return n ? (size_t)(rng_next(r) % n) : 0;
}

static bool rng_chance(rng *r, unsigned percent) {
    return rng_below(r, 100) < percent;
}

/* ---- byte buffers ------------------------------------------------------- */

typedef struct bytes {
    char *data;
    size_t len, cap;
} bytes;

static void bytes_reserve(bytes *b, size_t need) {
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        fprintf(stderr, "config_fuzz: out of memory\n");
        exit(2);
    }
    b->data = d;
    b->cap = cap;
}

static void bytes_set(bytes *b, const char *s, size_t n) {
    bytes_reserve(b, n + 1);
    if (n)
        memcpy(b->data, s, n);
    b->len = n;
}

static void bytes_insert(bytes *b, size_t at, const char *s, size_t n) {
    if (at > b->len)
        at = b->len;
    bytes_reserve(b, b->len + n + 1);
    memmove(b->data + at + n, b->data + at, b->len - at);
    memcpy(b->data + at, s, n);
    b->len += n;
}

static void bytes_erase(bytes *b, size_t at, size_t n) {
    if (at >= b->len)
        return;
    if (n > b->len - at)
        n = b->len - at;
    memmove(b->data + at, b->data + at + n, b->len - at - n);
    b->len -= n;
}

static void bytes_append(bytes *b, const char *s, size_t n) {
    bytes_insert(b, b->len, s, n);
}

static void bytes_puts(bytes *b, const char *s) {
    bytes_append(b, s, strlen(s));
}

static void bytes_repeat(bytes *b, const char *s, size_t times) {
    size_t n = strlen(s);
    bytes_reserve(b, b->len + n * times + 1);
    for (size_t i = 0; i < times; i++)
        bytes_append(b, s, n);
}

static void bytes_printf(bytes *b, const char *fmt, ...) MM_PRINTF(2, 3);
static void bytes_printf(bytes *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        bytes_append(b, tmp,
                     (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- files -------------------------------------------------------------- */

typedef struct seed_file {
    char *rel; /* path under the temp root, e.g. "seeds/_base_/model.yaml" */
    char *data;
    size_t len;
} seed_file;

typedef struct corpus {
    seed_file files[MAX_SEED_FILES];
    size_t n;
} corpus;

static bool read_whole(const char *path, bytes *out) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    out->len = 0;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        bytes_append(out, chunk, n);
    bool ok = !ferror(f);
    fclose(f);
    return ok;
}

/* Write through a temporary name and rename, so a half-written mutant is
 * never what the loader sees. */
static bool write_file(const char *path, const char *data, size_t len) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.fuzztmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return false;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            return false;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return false;
    }
    return true;
}

static bool make_dirs_for(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return true;
}

static bool has_config_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml") ||
                   !strcmp(dot, ".json"));
}

/* Collect the config files under dir (recursively), named prefix/rel. */
static void corpus_scan(corpus *c, const char *dir, const char *prefix,
                        int depth) {
    DIR *d = opendir(dir);
    if (!d || depth > 6) {
        if (d)
            closedir(d);
        return;
    }
    /* readdir order is not stable across file systems; sort for a
     * reproducible corpus. */
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 512)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        char path[4096], rel[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(rel, sizeof rel, "%s/%s", prefix, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            corpus_scan(c, path, rel, depth + 1);
        } else if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
                   has_config_ext(names[i]) && st.st_size <= MAX_SEED_BYTES &&
                   c->n < MAX_SEED_FILES) {
            bytes b = {0};
            if (read_whole(path, &b)) {
                seed_file *f = &c->files[c->n++];
                f->rel = strdup(rel);
                f->data = b.data ? b.data : strdup("");
                f->len = b.len;
            } else {
                free(b.data);
            }
        }
        free(names[i]);
    }
}

static void remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                    continue;
                char child[4096];
                snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                remove_tree(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* ---- the run ------------------------------------------------------------ */

/* Counts a child sends back with its results. */
typedef struct stats {
    /* How often each entry point accepted its input: a fuzzer whose every
     * mutant fails to parse tests little beyond the first error. */
    int loads_ok, loads_failed, parses_ok, parses_failed;
} stats;

typedef struct fuzz {
    char root[256]; /* the mkdtemp directory */
    corpus seeds;
    uint64_t seed;
    rng r; /* the current case's stream */
    int passed, failed;
    int case_no;
    const char *case_kind;
    bool case_failed;
    bool verbose;
    bool memory_capped;
    stats st;
    const char *artifacts;
    /* The current case's input, saved if the case fails, and what was
     * done with it. */
    const bytes *input;
    char about[1024];
    const char *const *overrides;
    size_t n_overrides;
} fuzz;

static fuzz *current; /* for the signal handlers */

/* SIGTERM or SIGINT (a test runner's timeout): stop after the running
 * batch and clean up; a second one ends the process at once. */
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
    if (stop_requested)
        _exit(128 + sig);
    stop_requested = sig;
}

static void save_artifact(fuzz *f) {
    if (!f->artifacts || !f->input)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/case-%04d-%s.input", f->artifacts,
             f->case_no, f->case_kind);
    if (!write_file(path, f->input->data, f->input->len))
        fprintf(stderr, "config_fuzz: cannot save %s\n", path);
    if (f->n_overrides) {
        bytes ov = {0};
        for (size_t i = 0; i < f->n_overrides; i++) {
            bytes_puts(&ov, f->overrides[i]);
            bytes_puts(&ov, "\n");
        }
        snprintf(path, sizeof path, "%s/case-%04d-%s.overrides", f->artifacts,
                 f->case_no, f->case_kind);
        if (!write_file(path, ov.data, ov.len))
            fprintf(stderr, "config_fuzz: cannot save %s\n", path);
        free(ov.data);
    }
}

static void fail(fuzz *f, const char *what, const char *fmt, ...)
    MM_PRINTF(3, 4);
static void fail(fuzz *f, const char *what, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!f->case_failed && f->about[0])
        fprintf(stderr, "FAIL case %d (%s): %s\n", f->case_no, f->case_kind,
                f->about);
    fprintf(stderr, "FAIL case %d (%s) %s: %s\n", f->case_no, f->case_kind,
            what, msg);
    if (!f->case_failed)
        save_artifact(f);
    f->case_failed = true;
}

/* In a child, a crash or a hang ends the batch: name the case and keep its
 * input first (not async-signal-safe, but the child is dying anyway). */
static void on_death(void) {
    static volatile sig_atomic_t once;
    if (once || !current || !current->case_kind)
        return;
    once = 1;
    fprintf(stderr, "config_fuzz: case %d (%s) died\n", current->case_no,
            current->case_kind);
    save_artifact(current);
}

static void on_signal(int sig) {
    on_death();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* A message as short as possible for the log: first 300 bytes, escaped. */
static const char *shown(const char *s, char buf[400]) {
    size_t j = 0;
    for (size_t i = 0; s[i] && j < 390; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') {
            buf[j++] = '\\';
            buf[j++] = 'n';
        } else if (c < 0x20) {
            buf[j++] = '?';
        } else {
            buf[j++] = (char)c;
        }
        if (i >= 300) {
            memcpy(buf + j, "...", 3);
            j += 3;
            break;
        }
    }
    buf[j] = '\0';
    return buf;
}

/* The failure contract of every fallible mm call. `prefixes` lists what the
 * message may start with (a location or a file name). */
static void check_failure(fuzz *f, const char *what, int rc,
                          const char *const *prefixes) {
    char b[400];
    if (rc >= 0 || rc <= -MM_ERROR_COUNT) {
        fail(f, what, "returned %d, not a negative MM_E* code", rc);
        return;
    }
    if (mm_error_code() != rc)
        fail(f, what, "returned %d (%s) but the error slot holds %d", rc,
             mm_strerror(rc), mm_error_code());
    /* No input here is big enough to need the memory it takes to fail. */
    if (rc == MM_ENOMEM)
        fail(f, what, "ran out of memory%s",
             f->memory_capped ? " (the address space is capped at 2 GiB)" : "");
    const char *msg = mm_error_message();
    if (!msg || !msg[0]) {
        fail(f, what, "returned %d (%s) with an empty message", rc,
             mm_strerror(rc));
        return;
    }
    if (strchr(msg, '\n') || strchr(msg, '\r'))
        fail(f, what, "message is not one line: %s", shown(msg, b));
    bool located = false;
    for (size_t i = 0; prefixes[i]; i++)
        located = located ||
                  strncmp(msg, prefixes[i], strlen(prefixes[i])) == 0;
    if (!located)
        fail(f, what, "message does not start with a location: %s",
             shown(msg, b));
    if (f->verbose)
        fprintf(stderr, "  case %d %s: %s\n", f->case_no, what, shown(msg, b));
}

/* Loaded configs never keep loader-internal directives or markers. */
static const char *tree_leftover(const mm_value *v) {
    if (mm_value_is_string(v) &&
        memmem(mm_value_get_string(v), mm_value_string_len(v), "\x01mm_base:",
               9))
        return "an unreplaced {{_base_.x}} marker";
    if (mm_value_is_dict(v) && mm_value_dict_get(v, "_delete_"))
        return "a '_delete_' key";
    for (size_t i = 0; i < mm_value_len(v); i++) {
        const char *bad =
            tree_leftover(mm_value_is_dict(v) ? mm_value_dict_value_at(v, i)
                                              : mm_value_list_get(v, i));
        if (bad)
            return bad;
    }
    return NULL;
}

/* Dump a parsed or loaded value both ways; each text must read back as the
 * same value. Whatever the readers produce, the writers must take. */
/* A dump must parse back, with the parser of its format, to the same value. */
static void check_reads_back(fuzz *f, const char *label, const char *text,
                             int (*parse)(const char *, size_t, const char *,
                                          mm_value **),
                             const mm_value *v) {
    char b[400];
    mm_value *back = NULL;
    mm_error_clear();
    int rc = parse(text, strlen(text), "<dump>", &back);
    if (rc)
        fail(f, label, "the dump does not parse back: %s",
             shown(mm_error_message(), b));
    else if (!mm_value_equal(v, back))
        fail(f, label, "the dump reads back as a different value");
    mm_value_release(back);
}

static void check_dumps(fuzz *f, const char *what, const mm_value *v) {
    char label[128], b[400];
    char *text = NULL;
    mm_error_clear();
    int rc = mm_yaml_dump(v, &text);
    snprintf(label, sizeof label, "%s: mm_yaml_dump", what);
    if (rc) {
        fail(f, label, "returned %d (%s): %s", rc, mm_strerror(rc),
             shown(mm_error_message(), b));
    } else if (!text) {
        fail(f, label, "succeeded with a NULL text");
    } else {
        check_reads_back(f, label, text, mm_yaml_parse, v);
    }
    free(text);
    text = NULL;

    int indent = (int)rng_below(&f->r, 3) * 2;
    mm_error_clear();
    rc = mm_json_dump(v, indent, &text);
    snprintf(label, sizeof label, "%s: mm_json_dump", what);
    if (rc) {
        /* The one refusal allowed: nesting past the JSON depth limit. */
        static const char *const any[] = {"", NULL};
        check_failure(f, label, rc, any);
        if (!strstr(mm_error_message(), "nested deeper"))
            fail(f, label, "returned %d (%s): %s", rc, mm_strerror(rc),
                 shown(mm_error_message(), b));
    } else if (!text) {
        fail(f, label, "succeeded with a NULL text");
    } else {
        check_reads_back(f, label, text, mm_json_parse, v);
    }
    free(text);
}

static void check_load(fuzz *f, const char *path, const char *const *ov,
                       size_t n_ov) {
    /* Every error names a file by its absolute path, or the command line. */
    static const char *const prefixes[] = {"/", MM_CONFIG_CMDLINE, NULL};
    char what[64];
    snprintf(what, sizeof what, "mm_config_load(%zu overrides)", n_ov);
    f->overrides = ov;
    f->n_overrides = n_ov;
    mm_value *cfg = NULL;
    mm_error_clear();
    int rc = mm_config_load(path, ov, n_ov, &cfg);
    if (rc) {
        f->st.loads_failed++;
        check_failure(f, what, rc, prefixes);
        if (cfg)
            fail(f, what, "failed but returned a value");
        return;
    }
    f->st.loads_ok++;
    if (!cfg) {
        fail(f, what, "succeeded with a NULL config");
        return;
    }
    if (!mm_value_is_dict(cfg))
        fail(f, what, "succeeded with a %s, not a dict",
             mm_value_type_name(mm_value_type_of(cfg)));
    if (n_ov == 0) {
        const char *bad = tree_leftover(cfg);
        if (bad)
            fail(f, what, "the config still holds %s", bad);
        if (mm_value_dict_get(cfg, "_base_"))
            fail(f, what, "the config still holds '_base_'");
        for (size_t i = 0; i < mm_value_len(cfg); i++)
            if (!strncmp(mm_value_dict_key_at(cfg, i), "__", 2))
                fail(f, what, "the private key '%s' was not dropped",
                     mm_value_dict_key_at(cfg, i));
    }
    check_dumps(f, what, cfg);
    mm_value_release(cfg);
}

static mm_value *check_parse(fuzz *f, bool json, const char *text, size_t len,
                             bool keep) {
    const char *name = json ? "fuzz.json" : "fuzz.yaml";
    const char *const prefixes[] = {name, NULL};
    const char *what = json ? "mm_json_parse" : "mm_yaml_parse";
    mm_value *v = NULL;
    mm_error_clear();
    int rc = json ? mm_json_parse(text, len, name, &v)
                  : mm_yaml_parse(text, len, name, &v);
    if (rc) {
        f->st.parses_failed++;
        check_failure(f, what, rc, prefixes);
        if (v)
            fail(f, what, "failed but returned a value");
        return NULL;
    }
    f->st.parses_ok++;
    if (!v) {
        fail(f, what, "succeeded with a NULL value");
        return NULL;
    }
    check_dumps(f, what, v);
    if (keep)
        return v;
    mm_value_release(v);
    return NULL;
}

/* ---- mutation ----------------------------------------------------------- */

static const char significant[] = {'{', '}', '[', ']', ':', '-', '&', '*',
                                   '!', '|', '>', '\'', '"', '#', '\n', '\t',
                                   '\0', (char)0xff, ' ', ',', '?', '%', '@',
                                   '`', '$', '.', '\\', '\r'};

/* Fragments that mean something to the loader, not just to YAML. */
static const char *const tokens[] = {
    "_base_: ", "_base_", "_delete_: true", "_delete_: 1", "${", "}", "$${",
    "${a}", "${model.backbone.depth}", "${env:MM_FUZZ_X,1}", "${env:}",
    "${env:HOME}", "${sizes.99}", "${}", "{{", "}}", "{{_base_.",
    "{{_base_.model}}", "{{fileDirname}}", "{{fileBasename}}",
    "{{$MM_FUZZ_Y:2}}", "{{$:}}",
    "<<: ", "<<", "&a ", "*a", "&b [", "*b", "!!int ", "!!str ", "!!float ",
    "!!python/tuple ", "!custom ", "::", "../", "./", "/", "__", "- ", ": ",
    "? ", "--- ", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "0x", "1e999",
    "-9223372036854775809", "99999999999999999999", "1:2:3:4:5:6:7:8:9",
    ".nan", "\"\\x01mm_base:x\"", "\xef\xbb\xbf", "\xc3\x28", "\xed\xa0\x80",
    "\xf4\x90\x80\x80", "\\u0000", "'", "\"", "|-\n", ">+\n"};
static const size_t n_tokens = sizeof tokens / sizeof tokens[0];

/* Start and length of the line holding byte `at`. */
static void line_around(const bytes *b, size_t at, size_t *start, size_t *len) {
    size_t s = at, e = at;
    while (s > 0 && b->data[s - 1] != '\n')
        s--;
    while (e < b->len && b->data[e] != '\n')
        e++;
    if (e < b->len)
        e++; /* keep the newline */
    *start = s;
    *len = e - s;
}

static void mutate_once(fuzz *f, bytes *m) {
    rng *r = &f->r;
    size_t at = rng_below(r, m->len + 1);
    switch (rng_below(r, 8)) {
    case 0: /* truncate */
        if (m->len)
            m->len = rng_below(r, m->len);
        break;
    case 1: /* flip bits */
        for (size_t k = 1 + rng_below(r, 4); k-- > 0 && m->len;)
            m->data[rng_below(r, m->len)] ^= (char)(1u << rng_below(r, 8));
        break;
    case 2: /* insert YAML-significant bytes */
        for (size_t k = 1 + rng_below(r, 4); k-- > 0;)
            bytes_insert(m, rng_below(r, m->len + 1),
                         &significant[rng_below(r, sizeof significant)], 1);
        break;
    case 3: /* delete a range */
        bytes_erase(m, at, 1 + rng_below(r, rng_chance(r, 80) ? 16 : 512));
        break;
    case 4: { /* duplicate a line, here or elsewhere */
        if (!m->len)
            break;
        size_t s, n;
        line_around(m, rng_below(r, m->len), &s, &n);
        char *copy = malloc(n + 1);
        memcpy(copy, m->data + s, n);
        size_t to = rng_chance(r, 50) ? s + n : rng_below(r, m->len + 1);
        for (size_t k = 1 + (rng_chance(r, 10) ? rng_below(r, 8) : 0); k-- > 0;)
            bytes_insert(m, to, copy, n);
        free(copy);
        break;
    }
    case 5: { /* splice: a head of this file and a tail of another */
        const seed_file *o = &f->seeds.files[rng_below(r, f->seeds.n)];
        size_t from = rng_below(r, o->len + 1);
        m->len = at;
        bytes_append(m, o->data + from, o->len - from);
        break;
    }
    case 6: { /* insert a loader token */
        const char *t = tokens[rng_below(r, n_tokens)];
        bytes_insert(m, at, t, strlen(t));
        break;
    }
    default: { /* replace the text after a colon with a token */
        const char *t = tokens[rng_below(r, n_tokens)];
        char *colon = m->len ? memchr(m->data + at % m->len, ':',
                                      m->len - at % m->len)
                             : NULL;
        size_t pos = colon ? (size_t)(colon - m->data) + 1 : at;
        bytes_erase(m, pos, rng_below(r, 8));
        bytes_insert(m, pos, " ", 1);
        bytes_insert(m, pos + 1, t, strlen(t));
        break;
    }
    }
    if (m->len > MAX_MUTANT_BYTES)
        m->len = MAX_MUTANT_BYTES;
}

/* Override strings: fixed nasty ones and random key.path=value pairs. */
static const char *const fixed_overrides[] = {
    "a.b=1", "x.0.y=[1,", "=", "..=2", "a=", "=1", ".a=1", "a.=1", "a..b=1",
    "model.type=Foo", "model.depth=${train_cfg.max_epochs}",
    "train_cfg.max_epochs=7", "model={_delete_: true, type: Other}",
    "model={depth: {x: 1}}", "a.c.2.d=4", "a.c.9=1", "a.c.x=1",
    "a.b.c.d.e=[1, {x: 2}]", "x.0=", "x.1.y.z=3", "x.-1=0",
    "x.99999999999999999999=1", "k=${k}", "a.b=${a}", "a.b=${a.b}",
    "z=${env:MM_FUZZ_UNSET,5}", "z=${env:}", "z=${nope.nope}", "z=$${lit}",
    "a b=c", "a=b=c", "a=&x [*x]", "a=*undefined", "a=!!int x", "a=!!float 1",
    "a='unterminated", "a=\"\\x01mm_base:x\"", "a={{_base_.x}}", "a=- 1\n- 2",
    "a=\n", "a=[\n", "a\n=1", "_base_=other.yaml", "__private=1",
    "a=\xff\xfe", "a=\t", "a=: :", "a=---\n---", "a=%TAG", "a=1 # c",
    "model.backbone.depth=101", "optim_wrapper.optimizer.lr=0.5",
    "param_scheduler.0.by_epoch=false", "param_scheduler.5.x=1",
    "default_hooks.logger={_delete_: yes}", "a.b=${a.c.2.d}",
};
static const size_t n_fixed_overrides =
    sizeof fixed_overrides / sizeof fixed_overrides[0];

static const char *const key_parts[] = {
    "a", "b", "c", "x", "y", "0", "1", "2", "model", "backbone", "depth",
    "type", "train_cfg", "_delete_", "_base_", "${a}", "", "99",
    "param_scheduler",
};
enum { N_KEY_PARTS = sizeof key_parts / sizeof key_parts[0] };
static const char *const value_parts[] = {
    "1", "-1", "0.5", "true", "null", "~", "[1, 2]", "{x: 1}",
    "{_delete_: true}", "'s'", "\"q\"", "${a.b}", "${env:MM_FUZZ_Z,z}", "[",
    "{", "}", "&a 1", "*a", "!!str 5", "", "[[[[[[[[", "a: b", "- x", "$${x}",
    "1e400",
};
enum { N_VALUE_PARTS = sizeof value_parts / sizeof value_parts[0] };

static void random_override(fuzz *f, bytes *out) {
    rng *r = &f->r;
    out->len = 0;
    for (size_t k = 1 + rng_below(r, 4); k-- > 0;) {
        bytes_puts(out, key_parts[rng_below(r, N_KEY_PARTS)]);
        if (k)
            bytes_puts(out, ".");
    }
    bytes_puts(out, "=");
    bytes_puts(out, value_parts[rng_below(r, N_VALUE_PARTS)]);
    if (rng_chance(r, 20) && out->len) {
        char c = significant[rng_below(r, sizeof significant)];
        if (c)
            bytes_insert(out, rng_below(r, out->len + 1), &c, 1);
    }
    bytes_append(out, "", 1); /* NUL-terminate; an override is a C string */
    out->len--;
}

/* ---- cases -------------------------------------------------------------- */

static void root_path(const fuzz *f, const char *rel, char *out, size_t size) {
    snprintf(out, size, "%s/%s", f->root, rel);
}

static void begin_case(fuzz *f, int n, const char *kind) {
    f->case_no = n;
    f->case_kind = kind;
    f->case_failed = false;
    f->r = rng_for_case(f->seed, n);
    f->input = NULL;
    f->about[0] = '\0';
    f->overrides = NULL;
    f->n_overrides = 0;
}

static void run_mutant(fuzz *f) {
    rng *r = &f->r;
    const seed_file *t = &f->seeds.files[rng_below(r, f->seeds.n)];
    bytes m = {0};
    bytes_set(&m, t->data, t->len);
    for (size_t k = 1 + rng_below(r, rng_chance(r, 70) ? 2 : 6); k-- > 0;)
        mutate_once(f, &m);
    f->input = &m;

    char path[4096];
    root_path(f, t->rel, path, sizeof path);
    if (!write_file(path, m.data, m.len)) {
        fail(f, "setup", "cannot write %s: %s", path, strerror(errno));
        free(m.data);
        return;
    }
    /* Load the mutant itself, or any file: the mutant may be its base. */
    const seed_file *l =
        rng_chance(r, 50) ? t : &f->seeds.files[rng_below(r, f->seeds.n)];
    char load[4096];
    root_path(f, l->rel, load, sizeof load);
    snprintf(f->about, sizeof f->about,
             "a %zu-byte mutant of %s, loading %s (MM_FUZZ_CASE=%d replays it)",
             m.len, t->rel, l->rel, f->case_no);
    if (f->verbose)
        fprintf(stderr, "case %d: %s\n", f->case_no, f->about);
    check_load(f, load, NULL, 0);

    mm_value *parsed = check_parse(f, false, m.data, m.len, true);
    check_parse(f, true, m.data, m.len, false);

    /* Overrides on the mutant (or the file that includes it). */
    bytes gen[2] = {{0}, {0}};
    const char *ov[3];
    size_t n_ov = 1 + rng_below(r, 3);
    for (size_t i = 0; i < n_ov; i++) {
        if (i < 2 && rng_chance(r, 50)) {
            random_override(f, &gen[i]);
            ov[i] = gen[i].data;
        } else {
            ov[i] = fixed_overrides[rng_below(r, n_fixed_overrides)];
        }
    }
    check_load(f, load, ov, n_ov);

    /* The JSON reader sees mostly YAML above; give it near-JSON too: a
     * mutant of the JSON dump of what the YAML reader accepted. */
    if (parsed) {
        char *json = NULL;
        if (mm_json_dump(parsed, rng_chance(r, 50) ? 2 : 0, &json) == MM_OK) {
            bytes jm = {0};
            bytes_set(&jm, json, strlen(json));
            for (size_t k = 1 + rng_below(r, 3); k-- > 0;)
                mutate_once(f, &jm);
            f->input = &jm;
            f->n_overrides = 0;
            snprintf(f->about, sizeof f->about,
                     "a %zu-byte mutant of the JSON dump of %s "
                     "(MM_FUZZ_CASE=%d replays it)",
                     jm.len, t->rel, f->case_no);
            check_parse(f, true, jm.data, jm.len, false);
            f->input = &m;
            free(jm.data);
        }
        free(json);
        mm_value_release(parsed);
    }

    if (!write_file(path, t->data, t->len))
        fail(f, "teardown", "cannot restore %s: %s", path, strerror(errno));
    f->input = NULL;
    free(gen[0].data);
    free(gen[1].data);
    free(m.data);
}

/* ---- hand-made hostile inputs ------------------------------------------- */

typedef struct hostile {
    const char *name;
    /* Writes any other files the case needs under dir, and the text of
     * the file to load into *main. */
    void (*make)(const char *dir, bytes *main);
    /* Overrides it is also loaded with, NULL-terminated; may be NULL. */
    const char *const *overrides;
} hostile;

static void put(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!write_file(path, text, strlen(text)))
        fprintf(stderr, "config_fuzz: cannot write %s\n", path);
}

/* Nine levels of nine aliases: 9^9 nodes if expanded. */
static void make_billion_laughs(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i < 9; i++) {
        bytes_printf(m, "l%d: &l%d [", i, i);
        for (int k = 0; k < 9; k++)
            bytes_printf(m, "%s*l%d", k ? ", " : "", i - 1);
        bytes_puts(m, "]\n");
    }
}

/* A bomb small enough to stay under the node cap (about 3.5 * 10^5
 * nodes), so every step after parsing sees it too: linear work on it takes
 * a second, quadratic work minutes. */
static void make_small_alias_bomb(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "l0: &l0 [a, b, c, d, e, f, g, h, i, j]\n");
    for (int i = 1; i < 5; i++) {
        bytes_printf(m, "l%d: &l%d [", i, i);
        for (int k = 0; k < 10; k++)
            bytes_printf(m, "%s*l%d", k ? ", " : "", i - 1);
        bytes_puts(m, "]\n");
    }
    bytes_puts(m, "l5: [*l4, *l4]\n");
}

/* `<<` merges multiply pairs before any node is made, so the node cap
 * does not see them. The levels are anchored inside a complex key, which
 * is never converted itself, and merged from the same mapping: L levels of
 * ten give 10^(L-1) pairs. */
static void make_merge_key_bomb_levels(bytes *m, int levels) {
    bytes_puts(m, "x:\n  ? [&m0 {x: 1}");
    for (int i = 1; i < levels; i++) {
        bytes_printf(m, ", &m%d {<<: [", i);
        for (int k = 0; k < 10; k++)
            bytes_printf(m, "%s*m%d", k ? ", " : "", i - 1);
        bytes_puts(m, "]}");
    }
    bytes_printf(m, "]\n  : 1\n  <<: *m%d\n", levels - 1);
}

static void make_merge_key_bomb(const char *dir, bytes *m) {
    (void)dir;
    make_merge_key_bomb_levels(m, 9);
}

static void make_deep_flow_open(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a: ");
    bytes_repeat(m, "[", 10000);
    bytes_puts(m, "\n");
}

static void make_deep_flow_closed(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a: ");
    bytes_repeat(m, "[", 10000);
    bytes_repeat(m, "]", 10000);
    bytes_puts(m, "\n");
}

static void make_deep_flow_maps(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a: ");
    bytes_repeat(m, "{k: ", 10000);
    bytes_puts(m, "1");
    bytes_repeat(m, "}", 10000);
    bytes_puts(m, "\n");
}

static void make_deep_block(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a:\n");
    for (int i = 1; i <= 2000; i++) {
        bytes_repeat(m, " ", (size_t)i);
        bytes_puts(m, "- \n");
    }
}

/* Deep but within the YAML reader's limit: every later step must cope. */
static void make_nested_400(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a: ");
    bytes_repeat(m, "[", 400);
    bytes_puts(m, "'${b}'");
    bytes_repeat(m, "]", 400);
    bytes_puts(m, "\nb: 1\n");
}

static void make_base_self(const char *dir, bytes *m) {
    bytes_puts(m, "_base_: ./hostile.yaml\na: 1\n");
    (void)dir;
}

static void make_base_mutual(const char *dir, bytes *m) {
    put(dir, "other.yaml", "_base_: [hostile.yaml]\nb: 2\n");
    bytes_puts(m, "_base_: other.yaml\na: 1\n");
}

static void make_base_chain_100(const char *dir, bytes *m) {
    for (int i = 0; i < 100; i++) {
        char name[64], text[128];
        snprintf(name, sizeof name, "chain%d.yaml", i);
        snprintf(text, sizeof text, "_base_: chain%d.yaml\nk%d: %d\n", i + 1, i,
                 i);
        put(dir, name, text);
    }
    put(dir, "chain100.yaml", "end: true\n");
    bytes_puts(m, "_base_: chain0.yaml\n");
}

static void make_base_dir(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "_base_: .\n");
}

static void make_base_device(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "_base_: /dev/zero\n");
}

static void make_base_odd_entries(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "_base_: [{a: 1}, '', 'x::y', '::', no_such.yaml]\n");
}

static void make_base_twice(const char *dir, bytes *m) {
    put(dir, "twice.yaml", "t: 1\n");
    bytes_puts(m, "_base_: [twice.yaml, ./twice.yaml]\n");
}

static void make_base_long_path(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "_base_: '");
    bytes_repeat(m, "a/../", 2000);
    bytes_repeat(m, "../", 300);
    bytes_puts(m, "x.yaml'\n");
}

static void make_ref_self(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a: ${a}\n");
}

static void make_ref_cycles(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a: {b: '${a}'}\nc: 'x${d}y'\nd: 'z${c}'\n");
}

static void make_ref_chain_1000(const char *dir, bytes *m) {
    (void)dir;
    for (int i = 0; i < 1000; i++)
        bytes_printf(m, "r%d: ${r%d}\n", i, i + 1);
    bytes_puts(m, "r1000: end\n");
}

static void make_alias_self(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a: &a {b: *a, <<: *a}\nc: &c [*c]\n");
}

static void make_huge_line(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "k: ");
    bytes_repeat(m, "x", 1 << 20);
    bytes_puts(m, "\n");
    bytes_repeat(m, "y", 1 << 19);
    bytes_puts(m, ": 1\n");
}

static void make_huge_reference(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a: 1\nb: '${");
    bytes_repeat(m, "a.", 100000);
    bytes_puts(m, "a}'\nc: '{{_base_.");
    bytes_repeat(m, "x", 100000);
    bytes_puts(m, "}}'\n");
}

static void make_bad_utf8(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "ok: 1\n"
                  "bad: \"\xff\xfe\xc0\xaf\xed\xa0\x80\xf8\x88\x80\x80\x80\"\n"
                  "key\xc3: v\ntrunc: \xe2\x82");
}

static void make_nul_bytes(const char *dir, bytes *m) {
    (void)dir;
    bytes_append(m, "a: 1\n\0b: 2\n", 11);
}

static void make_utf16(const char *dir, bytes *m) {
    (void)dir;
    bytes_append(m, "\xff\xfe" "a\0:\0 \0" "1\0\n\0", 12);
}

static void make_escaped_newlines(const char *dir, bytes *m) {
    (void)dir;
    /* Keys and references holding a newline must not break the one-line
     * error rule. */
    bytes_puts(m, "\"dup\\nkey\": 1\n\"dup\\nkey\": 2\n");
}

static void make_ref_newline(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a: \"${no\\nsuch}\"\n");
}

/* 40000 keys (600 KB): linear work takes a fraction of a second. */
static void make_many_keys(const char *dir, bytes *m) {
    (void)dir;
    for (int i = 0; i < 40000; i++)
        bytes_printf(m, "key_%d: %d\n", i, i);
}

static void make_numbers(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a: [99999999999999999999999:59:59, -9223372036854775808, "
                  "0x8000000000000000, 0b, 0x_, 1__0, 1e99999, -0.0, "
                  "0000000000000000000000000000001, "
                  "1:2:3:4:5:6:7:8:9:10:11:12, !!int 1e3, !!float abc, "
                  "!!bool maybe, !!null x, !!binary aGk=, "
                  "!!timestamp 2001-12-14, !!set {a}, !!omap [a: 1], "
                  "!<!> x]\n");
}

static void make_directives(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "%YAML 1.1\n%TAG !e! tag:example.com,2000:\n--- !e!x\n"
                  "a: 1\n...\n--- \nb: 2\n");
}

static void make_substitutions(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a: {{fileDirname}}/{{fileBasename}}\n"
                  "b: {{$MM_FUZZ_NOPE:}}\n"
                  "c: '{{ \"$\" }}'\nd: {{_base_.}}\ne: {{_base_.a.b}}\n"
                  "f: '{{$");
    bytes_repeat(m, "V", 300);
    bytes_puts(m, ":d}}'\n");
}

/* Text from outside the YAML reader (the environment, override keys) is
 * not checked as UTF-8 on the way in; the writers must still cope. */
static void make_env_bad_utf8(const char *dir, bytes *m) {
    (void)dir;
    setenv("MM_FUZZ_BAD_UTF8", "caf\xe9 \xff", 1);
    bytes_puts(m, "a: ${env:MM_FUZZ_BAD_UTF8}\n"
                  "b: 'x${env:MM_FUZZ_BAD_UTF8}'\n");
}

static void make_override_bad_utf8(const char *dir, bytes *m) {
    (void)dir;
    bytes_puts(m, "a: {b: 1}\n");
}

static const char *const bad_utf8_overrides[] = {
    "a.b\xff=1", "k\xc3=2", "a.\xed\xa0\x80=3", NULL};

static const hostile hostiles[] = {
    {"billion_laughs", make_billion_laughs, NULL},
    {"small_alias_bomb", make_small_alias_bomb, NULL},
    {"merge_key_bomb", make_merge_key_bomb, NULL},
    {"deep_flow_open", make_deep_flow_open, NULL},
    {"deep_flow_closed", make_deep_flow_closed, NULL},
    {"deep_flow_maps", make_deep_flow_maps, NULL},
    {"deep_block", make_deep_block, NULL},
    {"nested_400", make_nested_400, NULL},
    {"base_self", make_base_self, NULL},
    {"base_mutual", make_base_mutual, NULL},
    {"base_chain_100", make_base_chain_100, NULL},
    {"base_dir", make_base_dir, NULL},
    {"base_device", make_base_device, NULL},
    {"base_odd_entries", make_base_odd_entries, NULL},
    {"base_twice", make_base_twice, NULL},
    {"base_long_path", make_base_long_path, NULL},
    {"ref_self", make_ref_self, NULL},
    {"ref_cycles", make_ref_cycles, NULL},
    {"ref_chain_1000", make_ref_chain_1000, NULL},
    {"alias_self", make_alias_self, NULL},
    {"huge_line", make_huge_line, NULL},
    {"huge_reference", make_huge_reference, NULL},
    {"bad_utf8", make_bad_utf8, NULL},
    {"nul_bytes", make_nul_bytes, NULL},
    {"utf16", make_utf16, NULL},
    {"escaped_newline_key", make_escaped_newlines, NULL},
    {"ref_newline", make_ref_newline, NULL},
    {"many_keys", make_many_keys, NULL},
    {"numbers", make_numbers, NULL},
    {"directives", make_directives, NULL},
    {"substitutions", make_substitutions, NULL},
    {"env_bad_utf8", make_env_bad_utf8, NULL},
    {"override_bad_utf8", make_override_bad_utf8, bad_utf8_overrides},
};
enum { N_HOSTILE = sizeof hostiles / sizeof hostiles[0] };

static void run_hostile(fuzz *f, const hostile *h) {
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/hostile-%s", f->root, h->name);
    snprintf(path, sizeof path, "%s/hostile.yaml", dir);
    bytes m = {0};
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fail(f, "setup", "cannot create %s: %s", dir, strerror(errno));
        return;
    }
    h->make(dir, &m);
    f->input = &m;
    if (f->verbose)
        fprintf(stderr, "case %d: hostile %s (%zu bytes)\n", f->case_no,
                h->name, m.len);
    if (!write_file(path, m.data, m.len)) {
        fail(f, "setup", "cannot write %s", path);
    } else {
        check_load(f, path, NULL, 0);
        static const char *const ov[] = {"a.b=1", "x.0.y=[1,", "=", "..=2"};
        size_t first = rng_below(&f->r, 4);
        check_load(f, path, ov + first, 1 + rng_below(&f->r, 4 - first));
        for (size_t i = 0; h->overrides && h->overrides[i]; i++)
            check_load(f, path, &h->overrides[i], 1);
        f->n_overrides = 0;
        check_parse(f, false, m.data, m.len, false);
        check_parse(f, true, m.data, m.len, false);
    }
    f->input = NULL;
    remove_tree(dir);
    free(m.data);
}

/* Case n: the hostile inputs first, then the mutants. */
static void run_case(fuzz *f, int n) {
    if (n <= (int)N_HOSTILE) {
        begin_case(f, n, hostiles[n - 1].name);
        run_hostile(f, &hostiles[n - 1]);
    } else {
        begin_case(f, n, "mutant");
        run_mutant(f);
    }
}

/* ---- batches in child processes ----------------------------------------- */

/* What a child writes to its pipe: one byte per case ('p' passed, 'f'
 * failed), then 'S' and its stats. */
static void child_main(fuzz *f, const int *cases, size_t n, int limit_s,
                       int out_fd) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    /* A hang is reported by the SIGALRM handler, like a crash. */
    signal(SIGALRM, on_signal);
#ifndef MM_FUZZ_ASAN
    struct rlimit lim = {(rlim_t)CHILD_MEMORY_MIB << 20,
                         (rlim_t)CHILD_MEMORY_MIB << 20};
    f->memory_capped = setrlimit(RLIMIT_AS, &lim) == 0;
#endif
    memset(&f->st, 0, sizeof f->st);
    for (size_t i = 0; i < n; i++) {
        alarm((unsigned)limit_s);
        run_case(f, cases[i]);
        alarm(0);
        fflush(stderr);
        char c = f->case_failed ? 'f' : 'p';
        if (write(out_fd, &c, 1) != 1)
            _exit(2);
    }
    char buf[1 + sizeof f->st];
    buf[0] = 'S';
    memcpy(buf + 1, &f->st, sizeof f->st);
    if (write(out_fd, buf, sizeof buf) != (ssize_t)sizeof buf)
        _exit(2);
    close(out_fd);
    /* exit(), not _exit(): LeakSanitizer checks the child on the way out
     * and makes the exit status non-zero on a leak. */
    exit(0);
}

static void copy_corpus(fuzz *f);

/* Run the cases in one child; a case that kills it is failed and the rest
 * run in the next child. Returns the cases consumed. */
static size_t run_batch(fuzz *f, const int *cases, size_t n, int limit_s,
                        stats *total) {
    int fds[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(fds) != 0) {
        fprintf(stderr, "config_fuzz: pipe: %s\n", strerror(errno));
        f->failed++;
        return n;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_main(f, cases, n, limit_s, fds[1]);
    }
    close(fds[1]);
    if (pid < 0) {
        fprintf(stderr, "config_fuzz: fork: %s\n", strerror(errno));
        close(fds[0]);
        f->failed++;
        return n;
    }
    bytes got = {0};
    char chunk[512];
    for (;;) {
        ssize_t k = read(fds[0], chunk, sizeof chunk);
        if (k > 0) {
            bytes_append(&got, chunk, (size_t)k);
        } else if (k < 0 && errno == EINTR) {
            if (stop_requested)
                kill(pid, SIGKILL);
        } else {
            break;
        }
    }
    close(fds[0]);
    int status = 0;
    struct rusage ru = {0};
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    size_t done = 0;
    int batch_failed = 0;
    while (done < got.len && done < n && got.data[done] != 'S') {
        if (got.data[done] == 'f')
            batch_failed++;
        done++;
    }
    if (done < got.len && got.data[done] == 'S' &&
        got.len - done - 1 >= sizeof(stats)) {
        stats st;
        memcpy(&st, got.data + done + 1, sizeof st);
        total->loads_ok += st.loads_ok;
        total->loads_failed += st.loads_failed;
        total->parses_ok += st.parses_ok;
        total->parses_failed += st.parses_failed;
    }
    free(got.data);
    f->failed += batch_failed;
    f->passed += (int)done - batch_failed;
    if (f->verbose && n == 1)
        fprintf(stderr, "  case %d: peak %ld MiB\n", cases[0],
                ru.ru_maxrss / 1024);

    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (done < n) {
        /* The child died in case cases[done]. */
        const char *how = "exited early";
        char sig[64];
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
            snprintf(sig, sizeof sig, "still running after %d s (hang)",
                     limit_s);
            how = sig;
        } else if (WIFSIGNALED(status)) {
            snprintf(sig, sizeof sig, "killed by signal %d (%s)",
                     WTERMSIG(status), strsignal(WTERMSIG(status)));
            how = sig;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            snprintf(sig, sizeof sig,
                     "exited with status %d (a sanitizer report is above)",
                     WEXITSTATUS(status));
            how = sig;
        }
        fprintf(stderr, "FAIL case %d: %s\n", cases[done], how);
        f->failed++;
        done++;
        /* It may have died with a mutant on disk. */
        copy_corpus(f);
    } else if (!clean) {
        /* Every case passed its checks, but the exit did not: a leak. */
        if (n == 1)
            fprintf(stderr, "FAIL case %d: LeakSanitizer report above\n",
                    cases[0]);
        else
            fprintf(stderr,
                    "FAIL cases %d..%d: LeakSanitizer report above (exit "
                    "status %d); MM_FUZZ_BATCH=1 names the case\n",
                    cases[0], cases[n - 1],
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        if (batch_failed < (int)n) {
            f->passed--;
            f->failed++;
        }
    }
    return done;
}

static void run_cases(fuzz *f, const int *cases, size_t n, size_t batch,
                      int limit_s, stats *total) {
    size_t i = 0;
    while (i < n && !stop_requested) {
        size_t len = n - i < batch ? n - i : batch;
        i += run_batch(f, cases + i, len, limit_s, total);
    }
}

/* ---- main --------------------------------------------------------------- */

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void copy_corpus(fuzz *f) {
    for (size_t i = 0; i < f->seeds.n; i++) {
        char path[4096];
        root_path(f, f->seeds.files[i].rel, path, sizeof path);
        if (!make_dirs_for(path) ||
            !write_file(path, f->seeds.files[i].data, f->seeds.files[i].len)) {
            fprintf(stderr, "config_fuzz: cannot write %s: %s\n", path,
                    strerror(errno));
            exit(2);
        }
    }
}

static long env_long(const char *name, long fallback) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : fallback;
}

int main(int argc, char **argv) {
    static fuzz f;
    current = &f;
    setvbuf(stdout, NULL, _IOLBF, 0);

    long iters = env_long("MM_FUZZ_ITERS", DEFAULT_ITERS);
    long batch = env_long("MM_FUZZ_BATCH", DEFAULT_BATCH);
    long only_case = env_long("MM_FUZZ_CASE", 0);
    if (iters < 0 || iters > 10000000)
        iters = DEFAULT_ITERS;
    if (batch < 1)
        batch = 1;
    const char *env_seed = getenv("MM_FUZZ_SEED");
    f.seed = argc > 2                 ? strtoull(argv[2], NULL, 0)
             : env_seed && *env_seed ? strtoull(env_seed, NULL, 0)
                                     : 1;
    f.verbose = (getenv("MM_FUZZ_VERBOSE") && *getenv("MM_FUZZ_VERBOSE")) ||
                only_case > 0;
    f.artifacts = getenv("MM_FUZZ_ARTIFACTS");
    if (f.artifacts && !*f.artifacts)
        f.artifacts = NULL;

    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(on_death);
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++)
        signal(fatal[i], on_signal);
    struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    /* Seed directories: the fixtures (or argv[1]) and our own seeds. */
    char fixtures[4096] = "", own[4096] = "";
    const char *mm_fixtures = getenv("MM_FIXTURES");
    if (argc > 1)
        snprintf(fixtures, sizeof fixtures, "%s", argv[1]);
    else if (mm_fixtures)
        snprintf(fixtures, sizeof fixtures, "%s/config", mm_fixtures);
    if (mm_fixtures)
        snprintf(own, sizeof own, "%s/../fuzz/seeds", mm_fixtures);
    static const char *const own_candidates[] = {"seeds", "tests/fuzz/seeds"};
    for (size_t i = 0; i < 2 && (!own[0] || !is_dir(own)); i++)
        snprintf(own, sizeof own, "%s", own_candidates[i]);
    if (fixtures[0])
        corpus_scan(&f.seeds, fixtures, "fixtures", 0);
    size_t n_fixtures = f.seeds.n;
    corpus_scan(&f.seeds, own, "seeds", 0);
    if (f.seeds.n == 0) {
        fprintf(stderr, "config_fuzz: no seed configs in '%s' or '%s'\n",
                fixtures, own);
        printf("0 passed, 1 failed\n");
        return 1;
    }

    snprintf(f.root, sizeof f.root, "/tmp/mm_config_fuzz.XXXXXX");
    if (!mkdtemp(f.root)) {
        fprintf(stderr, "config_fuzz: mkdtemp: %s\n", strerror(errno));
        printf("0 passed, 1 failed\n");
        return 1;
    }
    copy_corpus(&f);
    printf("config_fuzz: seed %llu, %d hostile inputs and %ld mutants of %zu "
           "files (%zu from %s), in %s\n",
           (unsigned long long)f.seed, (int)N_HOSTILE, iters, f.seeds.n,
           n_fixtures, fixtures[0] ? fixtures : "-", f.root);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    stats total = {0};
    size_t max_cases = (size_t)N_HOSTILE + (size_t)iters + 1;
    int *cases = malloc(max_cases * sizeof *cases);
    if (!cases) {
        fprintf(stderr, "config_fuzz: out of memory\n");
        return 2;
    }
    if (only_case > 0) {
        cases[0] = (int)only_case;
        run_cases(&f, cases, 1, 1,
                  only_case <= (long)N_HOSTILE ? HOSTILE_LIMIT_S
                                               : MUTANT_LIMIT_S,
                  &total);
    } else {
        /* Hostile cases one per child: each may take seconds. */
        const char *only = getenv("MM_FUZZ_HOSTILE");
        size_t n = 0;
        for (int i = 1; i <= (int)N_HOSTILE; i++)
            if (!only || strstr(hostiles[i - 1].name, only))
                cases[n++] = i;
        run_cases(&f, cases, n, 1, HOSTILE_LIMIT_S, &total);
        for (long i = 0; i < iters; i++)
            cases[i] = (int)N_HOSTILE + 1 + (int)i;
        run_cases(&f, cases, (size_t)iters, (size_t)batch, MUTANT_LIMIT_S,
                  &total);
    }
    free(cases);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    remove_tree(f.root);
    for (size_t i = 0; i < f.seeds.n; i++) {
        free(f.seeds.files[i].rel);
        free(f.seeds.files[i].data);
    }
    printf("config_fuzz: %.1f s; mm_config_load accepted %d and refused %d "
           "inputs, the parsers accepted %d and refused %d\n",
           (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
           total.loads_ok, total.loads_failed, total.parses_ok,
           total.parses_failed);
    if (stop_requested) {
        fprintf(stderr, "config_fuzz: stopped by signal %d\n",
                (int)stop_requested);
        f.failed++;
    }
    printf("%d passed, %d failed\n", f.passed, f.failed);
    return f.failed ? 1 : 0;
}
