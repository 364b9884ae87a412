/* tests/hardening/test_cli_bad.c — every file of the bad-input corpus
 * (tests/fixtures/bad/{model,profile,plan,hf}/, tests/fixtures/models/bad-*)
 * through every subcommand that reads that kind of file, with the built `remat`:
 * a non-zero exit that is not a crash, nothing on stdout, exactly one line on
 * stderr naming the file (with :line:col unless the file is marked .nopos), and
 * every output file (-o pointing at existing files) left byte for byte as it was,
 * with no temporary left beside it. By default each file goes through the main
 * command of its kind (profile --model-file, plan --profile, simulate --plan,
 * profile --hf-config); with REMAT_HARDENING_FULL set (suite slow) through every
 * command that reads it. */
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/cli/cli_util.h"

#define KEEP "bytes that must survive a failed run\n"
#define PAR 4 /* commands run at once */

extern char **environ;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted file names of dir whose name starts with prefix (all when NULL). */
static int list_dir(const char *dir, const char *prefix, char ***out)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0, cap = 16;
    char **v = malloc((size_t)cap * sizeof *v);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || (prefix && strncmp(e->d_name, prefix, strlen(prefix))))
            continue;
        if (strstr(e->d_name, ".py"))
            continue;
        if (n == cap)
            v = realloc(v, (size_t)(cap *= 2) * sizeof *v);
        v[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

/* True when s contains path:<digits>:<digits>: */
static bool cites_position(const char *s, const char *path)
{
    size_t pl = strlen(path);
    for (const char *p = strstr(s, path); p; p = strstr(p + 1, path)) {
        const char *q = p + pl;
        if (*q++ != ':')
            continue;
        int digits = 0;
        while (*q >= '0' && *q <= '9') {
            q++;
            digits++;
        }
        if (!digits || *q++ != ':')
            continue;
        digits = 0;
        while (*q >= '0' && *q <= '9') {
            q++;
            digits++;
        }
        if (digits && *q == ':')
            return true;
    }
    return false;
}

typedef enum { OUT_NONE, OUT_FILE, OUT_BASE } out_kind;

/* One command on one bad file, run in its own directory <scratch>/jN holding
 * out.keep, base.csv, base.svg (pre-filled) and its captured stdout/stderr. */
typedef struct job {
    char path[1024], name[256], cmd[32];
    const char *argv[16];
    char dir[600];
    pid_t pid;
} job;

static char *file_in(const char *dir, const char *name)
{
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static void put_keep(const char *dir, const char *name)
{
    FILE *f = fopen(file_in(dir, name), "wb");
    assert_non_null(f);
    fputs(KEEP, f);
    fclose(f);
}

static bool kept(const char *dir, const char *name)
{
    size_t len = 0;
    char *t = cli_slurp(file_in(dir, name), &len);
    bool ok = t && len == strlen(KEEP) && memcmp(t, KEEP, len) == 0;
    free(t);
    return ok;
}

static int dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            unlink(file_in(dir, e->d_name));
    if (d)
        closedir(d);
    rmdir(dir);
}

static job running[PAR];
static int n_running, n_jobs, n_failed;

static void finish(job *j)
{
    int st = 0;
    while (waitpid(j->pid, &st, 0) < 0) {
    }
    int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    size_t out_len = 0;
    char *out = cli_slurp(file_in(j->dir, "stdout"), &out_len);
    char *err = cli_slurp(file_in(j->dir, "stderr"), NULL);
    bool nopos = strstr(j->name, ".nopos") != NULL;
    const char *why = NULL;
    if (status == 0)
        why = "exit status 0";
    else if (status >= 128)
        why = "killed by a signal";
    else if (out_len)
        why = "output on stdout";
    else if (!err || !cli_one_line(err))
        why = "not exactly one line on stderr";
    else if (!strstr(err, j->path))
        why = "the message does not name the file";
    else if (!nopos && !cites_position(err, j->path))
        why = "the message has no file:line:col";
    else if (!kept(j->dir, "out.keep") || !kept(j->dir, "base.csv") || !kept(j->dir, "base.svg"))
        why = "an existing output file was modified";
    else if (dir_count(j->dir) != 5)
        why = "a file was left beside the outputs";
    if (why) {
        fprintf(stderr, "remat %s %s: %s (status %d); stderr: %s%s", j->cmd, j->name, why, status,
                err ? err : "", err && cli_one_line(err) ? "" : "\n");
        n_failed++;
    }
    free(out);
    free(err);
    remove_dir(j->dir);
}

static void start(const char *path, const char *name, const char *cmd, const char *flag,
                  const char *extra1, const char *extra2, out_kind ok)
{
    if (n_running == PAR) {
        finish(&running[0]);
        memmove(&running[0], &running[1], (PAR - 1) * sizeof running[0]);
        n_running--;
    }
    job *j = &running[n_running++];
    memset(j, 0, sizeof *j);
    snprintf(j->path, sizeof j->path, "%s", path);
    snprintf(j->name, sizeof j->name, "%s", name);
    snprintf(j->cmd, sizeof j->cmd, "%s", cmd);
    snprintf(j->dir, sizeof j->dir, "%s", cli_path(""));
    snprintf(j->dir + strlen(j->dir), sizeof j->dir - strlen(j->dir), "j%d", n_jobs++);
    assert_int_equal(mkdir(j->dir, 0700), 0);
    put_keep(j->dir, "out.keep");
    put_keep(j->dir, "base.csv");
    put_keep(j->dir, "base.svg");
    static char outs[PAR][2][1024];
    int n = 0;
    j->argv[n++] = REMAT_EXE;
    j->argv[n++] = cmd;
    j->argv[n++] = flag;
    j->argv[n++] = j->path;
    if (extra1)
        j->argv[n++] = extra1;
    if (extra2)
        j->argv[n++] = extra2;
    if (ok != OUT_NONE) {
        char *o = outs[j - running][0];
        snprintf(o, sizeof outs[0][0], "%s", file_in(j->dir, ok == OUT_FILE ? "out.keep" : "base"));
        j->argv[n++] = "-o";
        j->argv[n++] = o;
    }
    j->argv[n] = NULL;
    int fo = open(file_in(j->dir, "stdout"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(file_in(j->dir, "stderr"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fo >= 0 && fe >= 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fo, 1);
    posix_spawn_file_actions_adddup2(&fa, fe, 2);
    int rc = posix_spawn(&j->pid, REMAT_EXE, &fa, NULL, (char *const *)j->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fo);
    close(fe);
    assert_int_equal(rc, 0);
}

static void drain(void)
{
    for (int i = 0; i < n_running; i++)
        finish(&running[i]);
    n_running = 0;
    assert_int_equal(n_failed, 0);
}

static void run_bad(const char *path, const char *name, const char *cmd, const char *flag,
                    const char *extra1, const char *extra2, out_kind ok)
{
    start(path, name, cmd, flag, extra1, extra2, ok);
}

static int for_each(const char *sub, const char *prefix, void (*fn)(const char *, const char *))
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", FIXTURES_DIR, sub);
    char **names;
    int n = list_dir(dir, prefix, &names);
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        fn(path, names[i]);
        free(names[i]);
    }
    free(names);
    return n;
}

static bool full(void) { return getenv("REMAT_HARDENING_FULL") != NULL; }

static void model_cmds(const char *path, const char *name)
{
    run_bad(path, name, "profile", "--model-file", NULL, NULL, OUT_FILE);
    if (!full())
        return;
    run_bad(path, name, "plan", "--model-file", NULL, NULL, OUT_FILE);
    run_bad(path, name, "report", "--model-file", NULL, NULL, OUT_FILE);
    run_bad(path, name, "sweep", "--model-file", "--budgets", "1MB:2MB:1MB", OUT_BASE);
}

static void profile_cmds(const char *path, const char *name)
{
    run_bad(path, name, "plan", "--profile", NULL, NULL, OUT_FILE);
    if (!full())
        return;
    run_bad(path, name, "profile", "--profile", NULL, NULL, OUT_FILE);
    run_bad(path, name, "report", "--profile", NULL, NULL, OUT_FILE);
    run_bad(path, name, "sweep", "--profile", "--budgets", "1MB:2MB:1MB", OUT_BASE);
}

static bool have_validate;

static void plan_cmds(const char *path, const char *name)
{
    run_bad(path, name, "simulate", "--plan", NULL, NULL, OUT_NONE);
    if (!full())
        return;
    run_bad(path, name, "report", "--plan", NULL, NULL, OUT_FILE);
    if (have_validate)
        run_bad(path, name, "validate", "--plan", NULL, NULL, OUT_NONE);
}

static void hf_cmds(const char *path, const char *name)
{
    run_bad(path, name, "profile", "--hf-config", NULL, NULL, OUT_FILE);
    if (full())
        run_bad(path, name, "plan", "--hf-config", NULL, NULL, OUT_FILE);
}

static void test_bad_model_files(void **state)
{
    (void)state;
    int n = for_each("bad/model", NULL, model_cmds);
    n += for_each("models", "bad-", model_cmds);
    assert_true(n >= 40);
    drain();
}

static void test_bad_profiles(void **state)
{
    (void)state;
    assert_true(for_each("bad/profile", NULL, profile_cmds) >= 40);
    drain();
}

static void test_bad_plans(void **state)
{
    (void)state;
    /* `remat validate` joins the list once the command exists */
    cli_run r;
    CLI(&r, "validate", "--help");
    have_validate = r.status == 0;
    cli_run_free(&r);
    assert_true(for_each("bad/plan", NULL, plan_cmds) >= 40);
    drain();
}

static void test_bad_hf_configs(void **state)
{
    (void)state;
    int n = for_each("bad/hf", NULL, hf_cmds);
    n += for_each("hf", "truncated", hf_cmds);
    n += for_each("hf", "bert", hf_cmds);
    assert_true(n >= 15);
    drain();
}

/* A missing file and a directory instead of a file: one line, nothing written. */
static void test_unreadable(void **state)
{
    (void)state;
    static const char *const cmds[][2] = {{"profile", "--model-file"}, {"plan", "--profile"},
                                          {"simulate", "--plan"},     {"profile", "--hf-config"}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        run_bad(cli_path("missing.yaml"), "missing.nopos", cmds[i][0], cmds[i][1], NULL, NULL,
                i == 2 ? OUT_NONE : OUT_FILE);
        run_bad(FIXTURES_DIR, "dir.nopos", cmds[i][0], cmds[i][1], NULL, NULL,
                i == 2 ? OUT_NONE : OUT_FILE);
    }
    drain();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_model_files, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_bad_profiles, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_bad_plans, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_bad_hf_configs, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_unreadable, cli_setup, cli_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
