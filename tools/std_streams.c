/* Standard output checked (std_streams.h). */
#include "std_streams.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int std_fds_open(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0) {
            int null = open("/dev/null", O_RDONLY);
            if (null < 0)
                return -1;
            if (null != fd) {       /* a lower one was free: cannot be */
                close(null);
                return -1;
            }
        }
    return 0;
}

int stdout_done(const char *prog, const char *cmd)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    fprintf(stderr, "%s: %s%sstandard output: %s\n", prog, cmd ? cmd : "",
            cmd ? ": " : "", errno ? strerror(errno) : "write error");
    return -1;
}
