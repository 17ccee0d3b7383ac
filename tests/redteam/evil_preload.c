/* evil_preload.c — red-team attack 3: host code that the launcher tries to
 * run inside the enclave through LD_PRELOAD. When it finds itself loaded
 * into an enclave process (`--enclave-fd` on its command line) it appends
 * a line to the file named by RT_MARK. Built by the test, never shipped. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((constructor)) static void rt_evil(void)
{
    char cmd[4096];
    int fd = open("/proc/self/cmdline", O_RDONLY);
    if (fd < 0)
        return;
    ssize_t n = read(fd, cmd, sizeof cmd - 1);
    close(fd);
    for (ssize_t i = 0; i < n; i++)
        if (cmd[i] == '\0')
            cmd[i] = ' ';
    cmd[n > 0 ? n : 0] = '\0';
    const char *mark = getenv("RT_MARK");
    if (mark == NULL || strstr(cmd, "--enclave-fd") == NULL)
        return;
    int o = open(mark, O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (o >= 0) {
        if (write(o, "host code ran inside the enclave\n", 33) != 33)
            (void)0;
        close(o);
    }
}
