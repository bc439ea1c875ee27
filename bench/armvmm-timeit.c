/*
 * armvmm-timeit: run a command several times and print the median wall-clock time
 * from fork to exit, or to the moment a given text appears on its output.
 * Runs inside the nested host (busybox has no sub-second clock).
 *   armvmm-timeit [-n RUNS] [-u TEXT] [-l LABEL] -- COMMAND [ARGS...]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One run: milliseconds to exit (or to the marker), or a negative value on failure. */
static double run_once(char **cmd, const char *until)
{
	char buf[4096], tail[8192] = "";
	int fds[2], status;
	double start, t = -1;
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	start = now_ms();
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
		if (n <= 0)
			break;
		buf[n] = '\0';
		if (until && t < 0) {
			/* Keep the end of the previous chunk so a marker split across reads is found. */
			size_t keep = strlen(tail) > 256 ? 256 : strlen(tail);
			memmove(tail, tail + strlen(tail) - keep, keep + 1);
			strncat(tail, buf, sizeof(tail) - keep - 1);
			if (strstr(tail, until))
				t = now_ms() - start;
		}
	}
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (!until)
		t = now_ms() - start;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "armvmm-timeit: the command failed (status 0x%x)\n", status);
		return -1;
	}
	return t;
}

int main(int argc, char **argv)
{
	const char *until = NULL, *label = "run";
	int runs = 10, opt;

	while ((opt = getopt(argc, argv, "n:u:l:")) != -1) {
		switch (opt) {
		case 'n': runs = atoi(optarg); break;
		case 'u': until = optarg; break;
		case 'l': label = optarg; break;
		default: return 2;
		}
	}
	if (optind >= argc || runs < 1 || runs > 1000) {
		fprintf(stderr, "usage: armvmm-timeit [-n RUNS] [-u TEXT] [-l LABEL] -- COMMAND [ARGS...]\n");
		return 2;
	}
	double *t = calloc((size_t)runs, sizeof(*t));
	for (int i = 0; i < runs; i++) {
		t[i] = run_once(argv + optind, until);
		if (t[i] < 0) {
			printf("BENCH: %s: FAILED (run %d%s)\n", label, i + 1, until ? ", or marker never seen" : "");
			return 1;
		}
	}
	qsort(t, (size_t)runs, sizeof(*t), cmp_double);
	printf("BENCH: %s: median %.1f ms (min %.1f, max %.1f, %d runs)\n", label, t[runs / 2], t[0],
	       t[runs - 1], runs);
	free(t);
	return 0;
}
