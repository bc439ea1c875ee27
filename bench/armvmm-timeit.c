/*
 * armvmm-timeit: run a command several times and print the median wall-clock time
 * from fork to exit, or to the moment a given text appears on its output. Given a
 * second command after "::", it runs the two alternately (A B, B A, A B, ...: load
 * that comes and goes falls on both alike) and prints the ratio of their medians.
 * Runs inside the nested host (busybox has no sub-second clock).
 *   armvmm-timeit [-n RUNS] [-u TEXT] [-l LABEL] [-N NAME1,NAME2] -- COMMAND [ARGS...] [:: COMMAND2 [ARGS...]]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct subject {
	char **argv;		/* NULL-terminated */
	char name[64];
	double *t;		/* one time per run, ms */
	double *cpu;		/* user + system CPU time per run, ms */
	double *faults;		/* page faults per run */
	int done;		/* runs measured */
	int failed;		/* status of the failed run, or 0 */
	bool marker_missed;
};

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
static double run_once(struct subject *s, const char *until, struct rusage *ru)
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
		execvp(s->argv[0], s->argv);
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
	wait4(pid, &status, 0, ru);
	if (!until)
		t = now_ms() - start;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "armvmm-timeit: %s failed (status 0x%x)\n", s->name, status);
		s->failed = status ? status : -1;
		return -1;
	}
	if (t < 0)
		s->marker_missed = true;
	return t;
}

static void report(const char *label, struct subject *s, bool named)
{
	const char *who = named ? s->name : "";
	const char *sep = named ? " " : "";

	if (s->failed || s->marker_missed) {
		printf("BENCH: %s: %s%sFAILED (run %d%s)\n", label, who, sep, s->done + 1,
		       s->marker_missed ? ", marker never seen" : "");
		return;
	}
	qsort(s->t, (size_t)s->done, sizeof(*s->t), cmp_double);
	qsort(s->cpu, (size_t)s->done, sizeof(*s->cpu), cmp_double);
	qsort(s->faults, (size_t)s->done, sizeof(*s->faults), cmp_double);
	/* CPU time and page faults say where a difference in wall time comes from. */
	printf("BENCH: %s: %s%smedian %.1f ms (min %.1f, max %.1f, %d runs; CPU %.1f ms, %.0f page faults)\n", label,
	       who, sep, s->t[s->done / 2], s->t[0], s->t[s->done - 1], s->done, s->cpu[s->done / 2],
	       s->faults[s->done / 2]);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

int main(int argc, char **argv)
{
	const char *until = NULL, *label = "run", *names = NULL;
	struct subject s[2];
	int runs = 10, opt, nr = 1;

	while ((opt = getopt(argc, argv, "n:u:l:N:")) != -1) {
		switch (opt) {
		case 'n': runs = atoi(optarg); break;
		case 'u': until = optarg; break;
		case 'l': label = optarg; break;
		case 'N': names = optarg; break;
		default: return 2;
		}
	}
	if (optind >= argc || runs < 1 || runs > 1000) {
		fprintf(stderr, "usage: armvmm-timeit [-n RUNS] [-u TEXT] [-l LABEL] [-N NAME1,NAME2] -- COMMAND [ARGS...] [:: COMMAND2 [ARGS...]]\n");
		return 2;
	}
	memset(s, 0, sizeof(s));
	s[0].argv = argv + optind;
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "::") == 0) {
			argv[i] = NULL;
			s[1].argv = argv + i + 1;
			nr = 2;
			break;
		}
	}
	if (!s[0].argv[0] || (nr == 2 && !s[1].argv[0])) {
		fprintf(stderr, "armvmm-timeit: an empty command\n");
		return 2;
	}
	for (int k = 0; k < nr; k++) {
		snprintf(s[k].name, sizeof(s[k].name), "%s", base_name(s[k].argv[0]));
		s[k].t = calloc((size_t)runs, sizeof(double));
		s[k].cpu = calloc((size_t)runs, sizeof(double));
		s[k].faults = calloc((size_t)runs, sizeof(double));
		if (!s[k].t || !s[k].cpu || !s[k].faults)
			return 1;
	}
	if (names && nr == 2) {
		const char *comma = strchr(names, ',');
		if (comma) {
			snprintf(s[0].name, sizeof(s[0].name), "%.*s", (int)(comma - names), names);
			snprintf(s[1].name, sizeof(s[1].name), "%s", comma + 1);
		}
	}
	for (int i = 0; i < runs; i++) {
		for (int j = 0; j < nr; j++) {
			struct subject *x = &s[(i + j) % nr];	/* A B, B A, ... */
			if (x->failed || x->marker_missed)
				continue;
			struct rusage ru = { 0 };
			double t = run_once(x, until, &ru);
			if (t >= 0) {
				x->cpu[x->done] = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
						  (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
				x->faults[x->done] = (double)(ru.ru_minflt + ru.ru_majflt);
				x->t[x->done++] = t;
			}
		}
	}
	for (int k = 0; k < nr; k++)
		report(label, &s[k], nr == 2);
	if (nr == 2 && s[0].done == runs && s[1].done == runs)
		printf("BENCH: %s: %s/%s %.2f (ratio of the medians, runs alternating)\n", label, s[0].name, s[1].name,
		       s[0].t[runs / 2] / s[1].t[runs / 2]);
	return s[0].done == runs && (nr == 1 || s[1].done == runs) ? 0 : 1;
}
