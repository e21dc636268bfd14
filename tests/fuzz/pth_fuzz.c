/* pth_fuzz - a deterministic fuzz test of the PyTorch .pth reader.
 *
 * Like checkpoint_fuzz, for torch.save's zip format: mutants of the .pth
 * fixtures (tests/fixtures/checkpoint/pth) go through
 * mm_checkpoint_load_buffer (every 16th through mm_checkpoint_load on a
 * file), and the contract is the same: 0 or a negative MM_E* code; on
 * failure no checkpoint and one non-empty line starting with the file's
 * name; on success the checkpoint describes itself and survives a
 * safetensors save and load. Nothing may crash, hang or leak.
 *
 * Most mutants are re-zipped with correct CRC-32s, so that they reach the
 * unpickler and the tensor reader instead of stopping at the checksum:
 * bytes of data.pkl flipped, replaced, inserted or deleted, hostile opcodes
 * and numbers (memo indices, lengths, sizes, strides, storage numels)
 * spliced in, storages cut or grown, byteorder changed, entries dropped.
 * The rest mutate the zip itself (headers, directory, end records), whose
 * CRCs then no longer match.
 *
 * Usage: pth_fuzz [PRNG_SEED]   (default $MM_FUZZ_SEED, else 1)
 * Environment: MM_FUZZ_ITERS (default 3000), MM_FUZZ_CASE, MM_FUZZ_BATCH,
 * MM_FUZZ_VERBOSE, MM_FIXTURES, as for checkpoint_fuzz. */
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
#include <zlib.h>

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
    bytes_reserve(b, n ? n : 1);
    if (n)
        memcpy(b->data, s, n);
    b->len = n;
}

static void bytes_splice(bytes *b, size_t at, size_t del, const void *s,
                         size_t n) {
    if (at > b->len)
        at = b->len;
    if (del > b->len - at)
        del = b->len - at;
    bytes_reserve(b, b->len - del + n + 1);
    if (b->len - at - del)
        memmove(b->data + at + n, b->data + at + del, b->len - at - del);
    if (n)
        memcpy(b->data + at, s, n);
    b->len = b->len - del + n;
}

#define COUNT(a) (sizeof(a) / sizeof(a)[0])

/* ---- a trusted zip reader and a zip writer (for the seeds) -------------- */

typedef struct entry {
    char name[128];
    bytes data;
} entry;

typedef struct archive {
    entry e[64];
    size_t n;
} archive;

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void put16(bytes *b, uint16_t v) {
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    bytes_splice(b, b->len, 0, x, 2);
}
static void put32(bytes *b, uint32_t v) {
    put16(b, (uint16_t)v);
    put16(b, (uint16_t)(v >> 16));
}
static void put64(bytes *b, uint64_t v) {
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

/* The seeds are torch's own files: read through the central directory
 * (the sizes in torch's local headers are zero). */
static int unzip(const bytes *z, archive *a) {
    size_t end = z->len >= 22 ? z->len - 22 : 0;
    while (end > 0 && rd32(z->data + end) != 0x06054b50u)
        end--;
    if (rd32(z->data + end) != 0x06054b50u)
        return -1;
    size_t n = rd16(z->data + end + 10), at = rd32(z->data + end + 16);
    a->n = 0;
    for (size_t i = 0; i < n && a->n < COUNT(a->e); i++) {
        const uint8_t *p = z->data + at;
        size_t nlen = rd16(p + 28), xlen = rd16(p + 30), clen = rd16(p + 32);
        size_t size = rd32(p + 24), local = rd32(p + 42);
        const uint8_t *l = z->data + local;
        size_t data = local + 30 + rd16(l + 26) + rd16(l + 28);
        entry *e = &a->e[a->n++];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%.*s", (int)nlen, (const char *)p + 46);
        bytes_set(&e->data, z->data + data, size);
        at += 46 + nlen + xlen + clen;
    }
    return 0;
}

/* Written as torch writes: data descriptors (bit 3, zero sizes in the
 * local header) and, when zip64, zip64 end records. */
static void zip(const archive *a, bool zip64, bytes *out) {
    out->len = 0;
    uint32_t offs[64];
    for (size_t i = 0; i < a->n; i++) {
        const entry *e = &a->e[i];
        uint32_t crc = (uint32_t)crc32(0, e->data.data, (uInt)e->data.len);
        size_t nlen = strlen(e->name);
        offs[i] = (uint32_t)out->len;
        put32(out, 0x04034b50u);
        put16(out, 20);
        put16(out, 0x0808);
        put16(out, 0);
        put32(out, 0);
        put32(out, 0);
        put32(out, 0);
        put32(out, 0);
        put16(out, (uint16_t)nlen);
        put16(out, 0);
        bytes_splice(out, out->len, 0, e->name, nlen);
        bytes_splice(out, out->len, 0, e->data.data, e->data.len);
        put32(out, 0x08074b50u);
        put32(out, crc);
        put32(out, (uint32_t)e->data.len);
        put32(out, (uint32_t)e->data.len);
    }
    size_t cd = out->len;
    for (size_t i = 0; i < a->n; i++) {
        const entry *e = &a->e[i];
        size_t nlen = strlen(e->name);
        put32(out, 0x02014b50u);
        put16(out, 45);
        put16(out, 20);
        put16(out, 0x0808);
        put16(out, 0);
        put32(out, 0);
        put32(out, (uint32_t)crc32(0, e->data.data, (uInt)e->data.len));
        put32(out, (uint32_t)e->data.len);
        put32(out, (uint32_t)e->data.len);
        put16(out, (uint16_t)nlen);
        put16(out, zip64 ? 12 : 0);
        put16(out, 0);
        put16(out, 0);
        put16(out, 0);
        put32(out, 0);
        put32(out, zip64 ? 0xffffffffu : offs[i]);
        bytes_splice(out, out->len, 0, e->name, nlen);
        if (zip64) {
            put16(out, 1);
            put16(out, 8);
            put64(out, offs[i]);
        }
    }
    size_t cd_size = out->len - cd;
    if (zip64) {
        size_t z = out->len;
        put32(out, 0x06064b50u);
        put64(out, 44);
        put16(out, 45);
        put16(out, 45);
        put32(out, 0);
        put32(out, 0);
        put64(out, a->n);
        put64(out, a->n);
        put64(out, cd_size);
        put64(out, cd);
        put32(out, 0x07064b50u);
        put32(out, 0);
        put64(out, z);
        put32(out, 1);
    }
    put32(out, 0x06054b50u);
    put16(out, 0);
    put16(out, 0);
    put16(out, zip64 ? 0xffff : (uint16_t)a->n);
    put16(out, zip64 ? 0xffff : (uint16_t)a->n);
    put32(out, zip64 ? 0xffffffffu : (uint32_t)cd_size);
    put32(out, zip64 ? 0xffffffffu : (uint32_t)cd);
    put16(out, 0);
}

static void archive_free(archive *a) {
    for (size_t i = 0; i < a->n; i++)
        free(a->e[i].data.data);
    a->n = 0;
}

static archive seeds[8];
static size_t n_seeds;

static void read_seed(const char *dir, const char *name) {
    char path[4096], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/checkpoint/pth/%s", dir, name);
    if (mm_file_read(path, &text, &len) != 0) {
        fprintf(stderr, "pth_fuzz: no seed %s (%s)\n", path,
                mm_error_message());
        return;
    }
    bytes b = {0};
    bytes_set(&b, text, len);
    free(text);
    if (unzip(&b, &seeds[n_seeds]) == 0)
        n_seeds++;
    free(b.data);
}

/* ---- mutations ---------------------------------------------------------- */

static entry *find(archive *a, const char *suffix) {
    for (size_t i = 0; i < a->n; i++) {
        size_t n = strlen(a->e[i].name), k = strlen(suffix);
        if (n >= k && !strcmp(a->e[i].name + n - k, suffix))
            return &a->e[i];
    }
    return NULL;
}

/* Pickle fragments that stress the unpickler: hostile lengths and memo
 * indices, stack tricks, mismatched containers, refused opcodes. */
static const struct {
    const char *b;
    size_t n;
} snippets[] = {
#define S(x) {x, sizeof x - 1}
    S("X\xff\xff\xff\x7f"), S("j\xff\xff\xff\xff"), S("r\xff\xff\xff\x00"),
    S("h\xfe"), S("q\x00"), S("0"), S("1"), S("2"), S("("), S("t"), S("u"),
    S("s"), S("a"), S("e"), S("R"), S("b"), S("Q"), S(")"), S("}"), S("]"),
    S("\x85"), S("\x86"), S("\x87"), S("\x81"), S("."), S("N"),
    S("J\xff\xff\xff\xff"), S("J\x00\x00\x00\x80"), S("K\xff"),
    S("\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f"), S("\x8a\x00"),
    S("\x8b\xff\xff\xff\xff"), S("\x8c\x05hello"), S("\x94"),
    S("ccollections\nOrderedDict\n"), S("ctorch\nFloatStorage\n"),
    S("ctorch._utils\n_rebuild_tensor_v2\n"), S("cposix\nsystem\n"),
    S("cnumpy\ndtype\n"), S("c_codecs\nencode\n"), S("c__builtin__\nset\n"),
    S("c__builtin__\ngetattr\n"), S("ctorch\ndevice\n"),
    S("X\x07\x00\x00\x00storage"), S("X\x01\x00\x00\x000"),
    S("X\x02\x00\x00\x00f8"), S("U\x03\xff\xfe\xfd"), S("G\x7f\xf8\0\0\0\0\0\0"),
    S("\x95\x10\0\0\0\0\0\0\0"), S("\x88"), S("\x89"), S("i"), S("o"),
    S("C\x04\x00\x01\x02\x03"), S("\x93"), S("\x8f"), S("\x90"), S("\x91"),
#undef S
};

static void mutate_pickle(rng *r, bytes *p) {
    switch (rng_below(r, 6)) {
    case 0:
        for (size_t k = 1 + rng_below(r, 4); k > 0 && p->len; k--)
            p->data[rng_below(r, p->len)] ^= (uint8_t)(1u << rng_below(r, 8));
        break;
    case 1:
        if (p->len)
            p->data[rng_below(r, p->len)] = (uint8_t)rng_next(r);
        break;
    case 2: { /* a snippet inserted, or replacing bytes */
        size_t i = rng_below(r, COUNT(snippets));
        bytes_splice(p, rng_below(r, p->len + 1), rng_below(r, 3),
                     snippets[i].b, snippets[i].n);
        break;
    }
    case 3: /* bytes deleted */
        bytes_splice(p, rng_below(r, p->len + 1), 1 + rng_below(r, 8), "", 0);
        break;
    case 4: /* truncated */
        p->len = rng_below(r, p->len + 1);
        break;
    default: { /* a small integer (a size, stride, offset, numel) made big */
        for (size_t tries = 0; tries < 64 && p->len > 2; tries++) {
            size_t at = rng_below(r, p->len - 1);
            if (p->data[at] == 'K') {
                static const char *const big[] = {
                    "J\xff\xff\xff\x7f", "J\xff\xff\xff\xff",
                    "\x8a\x08\0\0\0\0\0\0\0\x40", "K\x00", "K\x07",
                    "M\xff\xff"};
                const char *b = big[rng_below(r, COUNT(big))];
                size_t n = b[0] == 'J' ? 5 : b[0] == 'M' ? 3
                           : b[0] == 'K' ? 2 : 10;
                bytes_splice(p, at, 2, b, n);
                break;
            }
        }
    }
    }
}

/* One mutant of a seed: mostly re-zipped (valid CRCs), else raw. */
static void mutate(rng *r, const archive *seed, bytes *out) {
    archive a = {0};
    a.n = seed->n;
    for (size_t i = 0; i < seed->n; i++) {
        memcpy(a.e[i].name, seed->e[i].name, sizeof a.e[i].name);
        bytes_set(&a.e[i].data, seed->e[i].data.data, seed->e[i].data.len);
    }
    entry *pkl = find(&a, "/data.pkl");
    for (size_t k = 1 + rng_below(r, 3); k > 0; k--) {
        switch (rng_below(r, 8)) {
        case 0:
        case 1:
        case 2:
        case 3:
            if (pkl)
                mutate_pickle(r, &pkl->data);
            break;
        case 4: { /* a storage cut or grown */
            entry *e = &a.e[rng_below(r, a.n)];
            if (strstr(e->name, "/data/")) {
                if (rng_below(r, 2))
                    e->data.len = rng_below(r, e->data.len + 1);
                else
                    bytes_splice(&e->data, e->data.len, 0, "\x01\x02\x03", 3);
            }
            break;
        }
        case 5: { /* byteorder */
            static const char *const orders[] = {"big", "little", "middle",
                                                 ""};
            entry *e = find(&a, "/byteorder");
            if (!e && a.n < COUNT(a.e) && pkl) {
                e = &a.e[a.n++];
                memset(e, 0, sizeof *e);
                snprintf(e->name, sizeof e->name, "%.*s/byteorder",
                         (int)(strchr(pkl->name, '/') - pkl->name), pkl->name);
            }
            if (e) {
                const char *o = orders[rng_below(r, COUNT(orders))];
                bytes_set(&e->data, o, strlen(o));
            }
            break;
        }
        case 6: /* an entry dropped */
            if (a.n > 1) {
                size_t i = rng_below(r, a.n);
                free(a.e[i].data.data);
                memmove(&a.e[i], &a.e[i + 1], (a.n - i - 1) * sizeof *a.e);
                a.n--;
                pkl = find(&a, "/data.pkl");
            }
            break;
        default: /* an entry renamed */
            if (a.n) {
                entry *e = &a.e[rng_below(r, a.n)];
                size_t n = strlen(e->name);
                if (n)
                    e->name[rng_below(r, n)] = "/.0a\x01"[rng_below(r, 5)];
            }
        }
    }
    zip(&a, rng_below(r, 2), out);
    archive_free(&a);
    if (rng_below(r, 4) == 0) { /* the zip itself damaged */
        for (size_t k = 1 + rng_below(r, 4); k > 0 && out->len; k--) {
            size_t at = rng_below(r, 3) == 0
                            ? out->len - 1 - rng_below(r, out->len < 120
                                                              ? out->len
                                                              : 120)
                            : rng_below(r, out->len);
            if (rng_below(r, 2))
                out->data[at] ^= (uint8_t)(1u << rng_below(r, 8));
            else
                out->data[at] = (uint8_t)rng_next(r);
        }
        if (rng_below(r, 4) == 0)
            out->len = rng_below(r, out->len + 1);
    }
}

/* ---- checks ------------------------------------------------------------- */

static bool verbose;

static bool check_case(int n, uint64_t seed, const char *dir) {
    rng r = {seed * 0x100000001b3ull + (uint64_t)n};
    bytes m = {0};
    mutate(&r, &seeds[rng_below(&r, n_seeds)], &m);

    char name[128];
    snprintf(name, sizeof name, "%s/case%d.pth", dir, n);
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
            fprintf(stderr, "pth_fuzz: out of memory\n");
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
        /* What loads describes itself and survives safetensors. */
        char *text = NULL;
        void *b1 = NULL;
        size_t l1 = 0;
        mm_checkpoint *again = NULL;
        if (mm_checkpoint_describe(ck, true, &text) != 0 ||
            mm_checkpoint_save_buffer(ck, &b1, &l1) != 0 ||
            mm_checkpoint_load_buffer(b1, l1, "again", &again) != 0 ||
            mm_checkpoint_count(again) != mm_checkpoint_count(ck)) {
            fprintf(stderr, "FAIL case %d: loaded, but does not round-trip: "
                            "%s\n",
                    n, mm_error_message());
            ok = false;
        }
        free(text);
        free(b1);
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
    const char *fx = getenv("MM_FIXTURES");
    static const char *const names[] = {"dtypes.pth", "views.pth",
                                        "nested.pth", "mmengine.pth",
                                        "protocol4.pth", "big_endian.pth",
                                        "torch2.pth"};
    for (size_t i = 0; i < COUNT(names); i++)
        read_seed(fx && *fx ? fx : "tests/fixtures", names[i]);
    if (n_seeds < COUNT(names)) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    char dir[] = "/tmp/mm_pth_fuzz.XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "pth_fuzz: mkdtemp: %s\n", strerror(errno));
        return 2;
    }
    printf("pth_fuzz: seed %llu, %ld mutants of %zu files\n",
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
        archive_free(&seeds[i]);
    printf("%d passed, %d failed\n", ran - failed, failed);
    return failed ? 1 : 0;
}
