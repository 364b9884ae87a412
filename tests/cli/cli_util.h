/* tests/cli/cli_util.h — running the built `remat` binary (REMAT_EXE) from a
 * cmocka test: argv in, exit status and captured stdout/stderr out, inside a
 * private scratch directory that each test creates and removes. */
#ifndef REMAT_TESTS_CLI_UTIL_H
#define REMAT_TESTS_CLI_UTIL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cli_run {
    int status;  /* exit status, or 128 + signal */
    char *out;   /* captured stdout (NUL-terminated) */
    size_t out_len;
    char *err;   /* captured stderr */
} cli_run;

/* Creates a scratch directory under the current directory; returns its path
 * (static buffer valid until cli_scratch_remove). */
const char *cli_scratch_make(void);
/* Number of entries in the scratch directory (".", ".." excluded). */
int cli_scratch_count(void);
/* Removes the scratch directory and everything in it. */
void cli_scratch_remove(void);
/* A path inside the scratch directory (static rotating buffers). */
const char *cli_path(const char *name);

/* cmocka set-up and tear-down: a fresh scratch directory around each test. */
int cli_setup(void **state);
int cli_teardown(void **state);

/* Runs REMAT_EXE with args (NULL-terminated, without argv[0]). */
void cli_exec(cli_run *r, const char *const *args);
#define CLI(r, ...) cli_exec((r), (const char *const[]){__VA_ARGS__, NULL})
void cli_run_free(cli_run *r);

/* True when s holds exactly one line (ends with its only newline). */
bool cli_one_line(const char *s);
/* Reads a whole file; NULL if unreadable. */
char *cli_slurp(const char *path, size_t *len);

#endif
