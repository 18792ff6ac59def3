/* Runs a libFuzzer target (LLVMFuzzerTestOneInput) over files, so every fuzz
 * target also builds with gcc as a plain program for `make check` (as Varnish
 * and h2o do). Arguments are files or directories (one level, every regular
 * file); with none, the corpus FUZZ_CORPUS_DEFAULT is replayed, relative to
 * $SL_SRCDIR when that is set. A crash or failed invariant aborts; otherwise it
 * prints "replay: N inputs" and exits 0 (1 when nothing could be read). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_CORPUS_DEFAULT
#define FUZZ_CORPUS_DEFAULT "tests/fuzz/corpus/http1"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        return -1;
    }
    /* An exact-size copy, so that ASan catches reads past the input. */
    uint8_t *exact = malloc(len ? len : 1);
    if (exact) {
        memcpy(exact, buf, len);
        LLVMFuzzerTestOneInput(exact, len);
    }
    free(exact);
    free(buf);
    return exact ? 0 : -1;
}

static int run_path(const char *path, int *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (run_file(path) != 0)
            return -1;
        (*count)++;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t n = strlen(path) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p)
            break;
        snprintf(p, n, "%s/%s", path, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(p) != 0)
                rc = -1;
            else
                (*count)++;
        }
        free(p);
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    int count = 0, rc = 0;
    if (argc < 2) {
        const char *src = getenv("SL_SRCDIR");
        char path[4096];
        if (src && *src)
            snprintf(path, sizeof path, "%s/%s", src, FUZZ_CORPUS_DEFAULT);
        else
            snprintf(path, sizeof path, "%s", FUZZ_CORPUS_DEFAULT);
        rc = run_path(path, &count);
    }
    for (int i = 1; i < argc; i++)
        if (run_path(argv[i], &count) != 0)
            rc = -1;
    printf("replay: %d inputs\n", count);
    return rc != 0 || count == 0 ? 1 : 0;
}
