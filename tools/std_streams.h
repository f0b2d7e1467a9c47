/*
 * Standard output and its neighbours, for the command-line tools: what a
 * command prints into a full disk, a closed pipe or a closed descriptor
 * is not printed, and whoever ran it must know (GNU's close_stdout).
 */
#ifndef ZESP_TOOL_STD_STREAMS_H
#define ZESP_TOOL_STD_STREAMS_H

/* Descriptors 0, 1 and 2 open, on /dev/null read-only where one was
 * closed: else the first file or socket opened would be one of them, and
 * what is printed would be written into it.  Read-only, so that output to
 * a closed stdout still fails, and is said.  0 or -1. */
int std_fds_open(void);

/* Standard output written out, or "PROG: CMD: standard output: why" (CMD
 * may be NULL) said on stderr.  0 or -1. */
int stdout_done(const char *prog, const char *cmd);

#endif
