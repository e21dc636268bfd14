/* checkpoint_fuzz - a deterministic fuzz test of the checkpoint reader.
 *
 * Hostile input is the normal case for a file format reader, so this
 * program feeds mm_checkpoint_load_buffer (and, every 16th case,
 * mm_checkpoint_load on a real file) thousands of mutants of valid
 * checkpoints and checks the contract: the call returns 0 or a negative
 * MM_E* code; on failure nothing comes back and the error is one non-empty
 * line that starts with the file's name; on success the checkpoint
 * describes itself, and saving it and loading that again gives the same
 * bytes (a fixed point). Nothing may crash, abort, hang or leak.
 *
 * Seeds: a checkpoint built here (every dtype, a scalar, an empty tensor,
 * metadata) and the fixture written by Python's safetensors package.
 * Mutations: bit flips, truncation, random bytes, a forged header length,
 * numbers and dtypes in the JSON header swapped for hostile ones, bytes
 * inserted and deleted; after a header edit the length field usually
 * follows it, so mutants get past the first check. Each case draws from
 * its own generator, seeded by the run's seed and the case number, so any
 * case replays alone.
 *
 * Cases run in forked children, a batch at a time, so that a crash fails
 * one case and the run goes on; LeakSanitizer (under ASan) checks each
 * child as it exits, so a leak is pinned to a batch.
 *
 * Usage: checkpoint_fuzz [PRNG_SEED]   (default $MM_FUZZ_SEED, else 1)
 * Environment: MM_FUZZ_ITERS (mutants, default 3000), MM_FUZZ_CASE (run
 * only that case, verbosely), MM_FUZZ_BATCH (cases per child, default 200;
 * 1 names the case that leaks), MM_FIXTURES (for the Python-written seed).
 * The last line is "N passed, N failed"; the exit status is 1 on any
 * failure. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/mm.h"

enum { DEFAULT_ITERS = 3000, DEFAULT_BATCH = 200, CASE_LIMIT_S = 60 };

/* ---- a small deterministic generator (splitmix64) ----------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t rng_below(rng *r, size_t n) {
    return n ? (size_t)(rng_next(r) % n) : 0;
}

/* ---- byte buffers ------------------------------------------------------- */

typedef struct bytes {
    uint8_t *data;
    size_t len, cap;
} bytes;

static void bytes_reserve(bytes *b, size_t need) {
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
        fprintf(stderr, "checkpoint_fuzz: out of memory\n");
        exit(2);
    }
    b->data = d;
    b->cap = cap;
}

static void bytes_set(bytes *b, const void *s, size_t n) {
    bytes_reserve(b, n);
    memcpy(b->data, s, n);
    b->len = n;
}

static void bytes_splice(bytes *b, size_t at, size_t del, const void *s,
                         size_t n) {
    if (at > b->len)
        at = b->len;
    if (del > b->len - at)
        del = b->len - at;
    bytes_reserve(b, b->len - del + n);
    memmove(b->data + at + n, b->data + at + del, b->len - at - del);
    memcpy(b->data + at, s, n);
    b->len = b->len - del + n;
}

/* ---- seeds -------------------------------------------------------------- */

static bytes seeds[2];
static size_t n_seeds;

static int build_seed(bytes *out) {
    mm_checkpoint *ck;
    MM_TRY(mm_checkpoint_new(&ck));
    int rc = 0;
    for (int d = 0; d < MM_DTYPE_COUNT && rc == 0; d++) {
        mm_tensor *t;
        char name[64];
        snprintf(name, sizeof name, "state_dict.layer%d.weight", d);
        rc = mm_zeros(MM_SHAPE(2, 3), (mm_dtype)d, &t);
        for (int64_t i = 0; rc == 0 && i < t->numel; i++)
            mm_tensor_set_flat(t, i, (double)(i % 2));
        if (rc == 0)
            rc = mm_checkpoint_add(ck, name, t);
        mm_tensor_release(t);
    }
    mm_tensor *s = NULL, *e = NULL;
    if (rc == 0)
        rc = mm_scalar(3, MM_I64, &s);
    if (rc == 0)
        rc = mm_checkpoint_add(ck, "optimizer.step", s);
    if (rc == 0)
        rc = mm_zeros(MM_SHAPE(0, 2), MM_F32, &e);
    if (rc == 0)
        rc = mm_checkpoint_add(ck, "ema_state_dict.empty", e);
    mm_tensor_release(s);
    mm_tensor_release(e);
    const char *meta =
        "{\"epoch\": 1, \"iter\": 10, \"mm_version\": \"0.1.0\"}";
    mm_value *v = NULL;
    if (rc == 0)
        rc = mm_json_parse(meta, strlen(meta), "<meta>", &v);
    if (rc == 0)
        rc = mm_checkpoint_set_meta(ck, "meta", v);
    mm_value_release(v);
    void *buf = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = mm_checkpoint_save_buffer(ck, &buf, &len);
    mm_checkpoint_free(ck);
    if (rc == 0)
        bytes_set(out, buf, len);
    free(buf);
    return rc;
}

static void read_seed(const char *path, bytes *out) {
    char *text = NULL;
    size_t len = 0;
    if (mm_file_read(path, &text, &len) == 0)
        bytes_set(out, text, len);
    else
        fprintf(stderr, "checkpoint_fuzz: no seed %s (%s)\n", path,
                mm_error_message());
    free(text);
}

/* ---- mutations ---------------------------------------------------------- */

static uint64_t get_hlen(const bytes *b) {
    uint64_t n = 0;
    for (int i = 7; i >= 0 && b->len >= 8; i--)
        n = n << 8 | b->data[i];
    return n;
}

static void set_hlen(bytes *b, uint64_t n) {
    for (int i = 0; i < 8 && b->len >= 8; i++)
        b->data[i] = (uint8_t)(n >> (8 * i));
}

static const char *const numbers[] = {
    "0", "1", "-1", "7", "8", "4096", "18446744073709551615",
    "9223372036854775807", "9223372036854775808", "4294967296", "1e400",
    "0.5", "-0", "99999999999999999999999", "2305843009213693952", "[]",
    "null", "\"1\"", "{}",
};
static const char *const dtypes[] = {
    "\"F32\"", "\"F64\"", "\"F16\"", "\"BF16\"", "\"I64\"", "\"I32\"",
    "\"U8\"",  "\"BOOL\"", "\"I8\"", "\"U64\"", "\"f32\"", "\"\"", "3",
    "\"F8_E4M3\"", "\"BOOLEAN\"",
};
static const char *const junk[] = {
    "{", "}", "[", "]", ",", ":", "\"", "\\", "\"__metadata__\"",
    "\"shape\"", "\"data_offsets\"", "\"dtype\"", "\xff", "\xc3\x28", " ",
    "\0", "{\"a\":", "[[[[[[[[", "1,", "\"\\u0000\"",
    "\"a\\nb\":", "\\n", "\\u001b", "\"__metadata__\":{\"k\":1},",
};

#define COUNT(a) (sizeof(a) / sizeof(a)[0])

/* One edit of the JSON header, keeping the length field in step with it
 * most of the time. */
static void mutate_header(rng *r, bytes *m) {
    uint64_t hlen = get_hlen(m);
    if (m->len < 8 || hlen > m->len - 8 || hlen == 0)
        return;
    size_t start = 8, end = 8 + (size_t)hlen;
    size_t at = start + rng_below(r, (size_t)hlen), del = 0;
    const char *ins = "";
    size_t ins_len = 0;
    switch (rng_below(r, 4)) {
    case 0: /* a number for a number */
        while (at < end && (m->data[at] < '0' || m->data[at] > '9'))
            at++;
        while (at + del < end && m->data[at + del] >= '0' &&
               m->data[at + del] <= '9')
            del++;
        ins = numbers[rng_below(r, COUNT(numbers))];
        ins_len = strlen(ins);
        break;
    case 1: { /* a dtype for a dtype */
        const char *h = (const char *)m->data + start;
        const char *p = memmem(h + (at - start), end - at, "\"dtype\":", 8);
        if (!p)
            return;
        at = (size_t)(p - (const char *)m->data) + 8;
        while (at + del < end && m->data[at + del] != ',' &&
               m->data[at + del] != '}')
            del++;
        ins = dtypes[rng_below(r, COUNT(dtypes))];
        ins_len = strlen(ins);
        break;
    }
    case 2: /* junk in, or a few bytes out */
        ins = junk[rng_below(r, COUNT(junk))];
        ins_len = ins[0] ? strlen(ins) : 1;
        del = rng_below(r, 3);
        break;
    default: /* a slice of the header repeated (duplicate keys, overlaps) */
    {
        size_t from = start + rng_below(r, (size_t)hlen);
        size_t n = 1 + rng_below(r, end - from);
        uint8_t *copy = malloc(n);
        if (!copy)
            return;
        memcpy(copy, m->data + from, n);
        bytes_splice(m, at, 0, copy, n);
        free(copy);
        if (rng_below(r, 4))
            set_hlen(m, hlen + n);
        return;
    }
    }
    if (at > end)
        at = end;
    if (del > end - at)
        del = end - at;
    bytes_splice(m, at, del, ins, ins_len);
    if (rng_below(r, 4))
        set_hlen(m, hlen - del + ins_len);
}

static void mutate_once(rng *r, bytes *m) {
    switch (rng_below(r, 8)) {
    case 0: /* flip bits */
        for (size_t k = 1 + rng_below(r, 8); k > 0 && m->len; k--)
            m->data[rng_below(r, m->len)] ^= (uint8_t)(1u << rng_below(r, 8));
        break;
    case 1: /* truncate */
        m->len = rng_below(r, m->len + 1);
        break;
    case 2: { /* a random byte */
        if (m->len)
            m->data[rng_below(r, m->len)] = (uint8_t)rng_next(r);
        break;
    }
    case 3: { /* a forged header length */
        static const uint64_t forged[] = {0, 1, 2, 7, 8, 100000000,
                                          100000001, UINT64_MAX,
                                          (uint64_t)INT64_MAX + 1};
        uint64_t h = get_hlen(m);
        uint64_t v = rng_below(r, 2) ? forged[rng_below(r, COUNT(forged))]
                                     : h + rng_below(r, 17) - 8;
        set_hlen(m, v);
        break;
    }
    case 4: { /* bytes appended or inserted in the data */
        uint8_t extra[16];
        size_t n = 1 + rng_below(r, sizeof extra);
        for (size_t i = 0; i < n; i++)
            extra[i] = (uint8_t)rng_next(r);
        bytes_splice(m, rng_below(r, 2) ? m->len : rng_below(r, m->len + 1),
                     0, extra, n);
        break;
    }
    default:
        mutate_header(r, m);
    }
}

/* ---- checks ------------------------------------------------------------- */

static bool verbose;

static bool check_case(int n, uint64_t seed, const char *dir) {
    rng r = {seed * 0x100000001b3ull + (uint64_t)n};
    bytes m = {0};
    const bytes *s = &seeds[rng_below(&r, n_seeds)];
    bytes_set(&m, s->data, s->len);
    for (size_t k = 1 + rng_below(&r, 3); k > 0; k--)
        mutate_once(&r, &m);

    char name[128];
    snprintf(name, sizeof name, "%s/case%d.safetensors", dir, n);
    mm_checkpoint *ck = NULL;
    mm_error_clear();
    int rc;
    bool via_file = n % 16 == 0;
    if (via_file) {
        FILE *f = fopen(name, "wb");
        if (!f || fwrite(m.data, 1, m.len, f) != m.len || fclose(f) != 0) {
            fprintf(stderr, "FAIL case %d: cannot write %s\n", n, name);
            free(m.data);
            return false;
        }
        rc = mm_checkpoint_load(name, &ck);
        unlink(name);
    } else {
        /* An exact-size copy: ASan sees any read past the end. */
        void *copy = malloc(m.len ? m.len : 1);
        if (!copy) {
            fprintf(stderr, "checkpoint_fuzz: out of memory\n");
            exit(2);
        }
        memcpy(copy, m.data, m.len);
        rc = mm_checkpoint_load_buffer(copy, m.len, name, &ck);
        free(copy);
    }
    bool ok = true;
    const char *msg = mm_error_message();
    if (rc < 0) {
        if (rc <= -MM_ERROR_COUNT || ck || !msg[0] || strchr(msg, '\n') ||
            strncmp(msg, name, strlen(name)) != 0) {
            fprintf(stderr, "FAIL case %d: rc %d, checkpoint %p, message "
                            "'%s'\n",
                    n, rc, (void *)ck, msg);
            ok = false;
        }
    } else if (rc > 0 || !ck) {
        fprintf(stderr, "FAIL case %d: rc %d without a checkpoint\n", n, rc);
        ok = false;
    } else {
        /* What loads is a fixed point of save and load. */
        char *text = NULL;
        void *b1 = NULL, *b2 = NULL;
        size_t l1 = 0, l2 = 0;
        mm_checkpoint *again = NULL;
        if (mm_checkpoint_describe(ck, true, &text) != 0 ||
            mm_checkpoint_save_buffer(ck, &b1, &l1) != 0 ||
            mm_checkpoint_load_buffer(b1, l1, "again", &again) != 0 ||
            mm_checkpoint_save_buffer(again, &b2, &l2) != 0 || l1 != l2 ||
            memcmp(b1, b2, l1) != 0 ||
            mm_checkpoint_count(again) != mm_checkpoint_count(ck)) {
            fprintf(stderr, "FAIL case %d: loaded, but does not round-trip: "
                            "%s\n",
                    n, mm_error_message());
            ok = false;
        }
        free(text);
        free(b1);
        free(b2);
        mm_checkpoint_free(again);
    }
    if (verbose)
        fprintf(stderr, "case %d (%zu bytes%s): rc %d %s\n", n, m.len,
                via_file ? ", file" : "", rc, rc < 0 ? msg : "loaded");
    mm_checkpoint_free(ck);
    free(m.data);
    return ok;
}

/* Runs cases [first, first + n) in a child; returns how many finished and
 * adds failures. A child that dies fails the case it died in. */
static int run_batch(int first, int n, uint64_t seed, const char *dir,
                     int *failed) {
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        close(fds[0]);
        alarm(CASE_LIMIT_S);
        for (int i = 0; i < n; i++) {
            char c = check_case(first + i, seed, dir) ? '.' : 'f';
            if (write(fds[1], &c, 1) != 1)
                _exit(3);
        }
        close(fds[1]);
        exit(0); /* LeakSanitizer runs at exit */
    }
    close(fds[1]);
    int done = 0;
    char c;
    ssize_t k;
    while ((k = read(fds[0], &c, 1)) != 0) {
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            break;
        done++;
        *failed += c == 'f';
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (done < n) {
        fprintf(stderr, "FAIL case %d: the child %s %d\n", first + done,
                WIFSIGNALED(status) ? "was killed by signal" : "exited with",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        (*failed)++;
        return done + 1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "FAIL cases %d..%d: exit status %d (a sanitizer "
                        "report is above; MM_FUZZ_BATCH=1 names the case)\n",
                first, first + n - 1,
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        (*failed)++;
    }
    return done;
}

static long env_long(const char *name, long fallback) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : fallback;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    long iters = env_long("MM_FUZZ_ITERS", DEFAULT_ITERS);
    long batch = env_long("MM_FUZZ_BATCH", DEFAULT_BATCH);
    long only = env_long("MM_FUZZ_CASE", 0);
    if (iters < 0 || iters > 10000000)
        iters = DEFAULT_ITERS;
    if (batch < 1)
        batch = 1;
    const char *env_seed = getenv("MM_FUZZ_SEED");
    uint64_t seed = argc > 1                ? strtoull(argv[1], NULL, 0)
                    : env_seed && *env_seed ? strtoull(env_seed, NULL, 0)
                                            : 1;
    verbose = only > 0 || (getenv("MM_FUZZ_VERBOSE") &&
                           *getenv("MM_FUZZ_VERBOSE"));

    if (build_seed(&seeds[n_seeds]) != 0) {
        fprintf(stderr, "checkpoint_fuzz: cannot build the seed: %s\n",
                mm_error_message());
        printf("0 passed, 1 failed\n");
        return 1;
    }
    n_seeds++;
    const char *fx = getenv("MM_FIXTURES");
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint/python_written.safetensors",
             fx && *fx ? fx : "tests/fixtures");
    read_seed(path, &seeds[n_seeds]);
    if (seeds[n_seeds].len)
        n_seeds++;

    char dir[] = "/tmp/mm_checkpoint_fuzz.XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "checkpoint_fuzz: mkdtemp: %s\n", strerror(errno));
        return 2;
    }
    printf("checkpoint_fuzz: seed %llu, %ld mutants of %zu checkpoints\n",
           (unsigned long long)seed, only > 0 ? 1 : iters, n_seeds);
    int failed = 0, ran = 0;
    if (only > 0) {
        ran = run_batch((int)only, 1, seed, dir, &failed);
    } else {
        for (int i = 1; i <= iters;) {
            int n = (int)(iters - i + 1 < batch ? iters - i + 1 : batch);
            int done = run_batch(i, n, seed, dir, &failed);
            ran += done;
            i += done;
        }
    }
    rmdir(dir);
    for (size_t i = 0; i < n_seeds; i++)
        free(seeds[i].data);
    printf("%d passed, %d failed\n", ran - failed, failed);
    return failed ? 1 : 0;
}
