/* reports/atomic.c — write-to-temporary-then-rename for every output file; stdout
 * output is assembled in memory and written only once complete. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reports/reports.h"

int report_write_atomic(const char *path, report_writer write, void *ctx, remat_err *err)
{
    if (!path || !*path)
        return remat_fail(err, -EINVAL, "no output path");
    if (strcmp(path, "-") == 0) {
        /* nothing reaches stdout unless the whole output was produced */
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m)
            return remat_fail(err, -ENOMEM, "out of memory");
        int rc = write(m, ctx, err);
        if (fclose(m) != 0 && rc == 0)
            rc = remat_fail(err, -ENOMEM, "out of memory");
        if (rc == 0 && (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0))
            rc = remat_fail(err, -EIO, "writing to stdout failed");
        free(buf);
        return rc;
    }
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return remat_fail(err, -ENOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return remat_fail(err, -e, "%s: cannot create: %s", path, strerror(e));
    }
    /* mkstemp creates 0600: give the file the mode of the one it replaces, or
     * what the umask allows for a new file */
    struct stat st;
    mode_t mode;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        mode = st.st_mode & 07777;
    } else {
        mode_t mask = umask(0);
        umask(mask);
        mode = 0666 & ~mask;
    }
    fchmod(fd, mode);
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        return remat_fail(err, -e, "%s: %s", path, strerror(e));
    }
    int rc = write(f, ctx, err);
    if (rc == 0 && (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0))
        rc = remat_fail(err, -EIO, "%s: write failed: %s", path, strerror(errno));
    if (fclose(f) != 0 && rc == 0)
        rc = remat_fail(err, -EIO, "%s: write failed: %s", path, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = remat_fail(err, -errno, "%s: cannot rename into place: %s", path, strerror(errno));
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}
