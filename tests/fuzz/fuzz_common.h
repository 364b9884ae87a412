/* tests/fuzz/fuzz_common.h — helpers shared by the libFuzzer targets: the input
 * written to a private temporary file (the loaders take paths), and the checks
 * every failed load must pass: a negative errno and one non-empty line of message. */
#ifndef REMAT_TESTS_FUZZ_COMMON_H
#define REMAT_TESTS_FUZZ_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/graph.h"

static char fuzz_path[256];

static inline void fuzz_cleanup(void) { unlink(fuzz_path); }

/* Path of a temporary file holding exactly data[0..size) (removed at exit). */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
    char *path = fuzz_path;
    static int fd = -1;
    if (fd < 0) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof fuzz_path, "%s/remat-fuzz-XXXXXX%s", dir && *dir ? dir : "/tmp",
                 suffix);
        fd = mkstemps(path, (int)strlen(suffix));
        if (fd < 0) {
            perror("mkstemps");
            abort();
        }
        atexit(fuzz_cleanup);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
        perror("fuzz_file");
        abort();
    }
    return path;
}

/* A failed call must return a negative errno with one line of explanation. */
static inline void fuzz_check_error(int rc, const remat_err *e)
{
    if (rc >= 0)
        return;
    size_t n = strnlen(e->msg, sizeof e->msg);
    if (rc < -4095 || n == 0 || n >= sizeof e->msg || memchr(e->msg, '\n', n)) {
        fprintf(stderr, "bad error report: rc %d, message '%.*s'\n", rc, (int)n, e->msg);
        abort();
    }
}

#endif
