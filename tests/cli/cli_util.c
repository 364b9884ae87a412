/* tests/cli/cli_util.c — spawn the remat binary with posix_spawn, capture its
 * output through files in a scratch directory (see cli_util.h). */
#include "cli_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char scratch[256];

const char *cli_scratch_make(void)
{
    snprintf(scratch, sizeof scratch, "cli-scratch-XXXXXX");
    if (!mkdtemp(scratch)) {
        perror("mkdtemp");
        abort();
    }
    return scratch;
}

int cli_scratch_count(void)
{
    DIR *d = opendir(scratch);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

void cli_scratch_remove(void)
{
    DIR *d = opendir(scratch);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", scratch, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(scratch);
}

const char *cli_path(const char *name)
{
    static char bufs[4][600];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", scratch, name);
    return b;
}

char *cli_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
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
    if (buf)
        buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

void cli_exec(cli_run *r, const char *const *args)
{
    int n = 0;
    while (args[n])
        n++;
    char **argv = calloc((size_t)n + 2, sizeof *argv);
    argv[0] = (char *)REMAT_EXE;
    for (int i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    /* captured outside the scratch directory so tests can count its files */
    char out_path[] = "cli-out-XXXXXX", err_path[] = "cli-err-XXXXXX";
    int fo = mkstemp(out_path), fe = mkstemp(err_path);
    if (fo < 0 || fe < 0) {
        perror("mkstemp");
        abort();
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fo, 1);
    posix_spawn_file_actions_adddup2(&fa, fe, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, REMAT_EXE, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fo);
    close(fe);
    int st = 0;
    if (rc != 0) {
        fprintf(stderr, "posix_spawn %s: %s\n", REMAT_EXE, strerror(rc));
        abort();
    }
    while (waitpid(pid, &st, 0) < 0) {
    }
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->out = cli_slurp(out_path, &r->out_len);
    r->err = cli_slurp(err_path, NULL);
    unlink(out_path);
    unlink(err_path);
    free(argv);
}

void cli_run_free(cli_run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

bool cli_one_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl && nl[1] == 0 && nl != s;
}

int cli_setup(void **state)
{
    (void)state;
    cli_scratch_make();
    return 0;
}

int cli_teardown(void **state)
{
    (void)state;
    cli_scratch_remove();
    return 0;
}
