/*
 * The script runner. One thread per scripted run executes the commands in
 * order; it is the only reader of the console output pipe, so it also copies
 * every byte the guest prints to stdout, whatever command it is on (a vCPU
 * writing to a full pipe would otherwise block, and could not be paused).
 * Anything that changes the VM (pause, resume, snapshot, migrate) is done by
 * the main thread through the operations the control socket uses: the script
 * thread posts a request, kicks req_fd and waits, pumping output meanwhile.
 */
#include "app/script.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/control.h"
#include "core/clock.h"
#include "core/eventloop.h"
#include "core/files.h"
#include "core/log.h"
#include "core/vm.h"

enum script_op {
	OP_WAIT, OP_SEND, OP_TIMEOUT, OP_SLEEP, OP_PAUSE, OP_RESUME, OP_SNAPSHOT, OP_MIGRATE, OP_EXPECT_EXIT,
	OP_MSI,
};

struct script_cmd {
	enum script_op op;
	unsigned int line;
	char *text;		/* WAIT/SEND: unescaped bytes; SNAPSHOT: directory */
	size_t len;
	unsigned long num;	/* TIMEOUT: seconds; SLEEP: ms; EXPECT_EXIT: status; MSI: DeviceID */
	unsigned long num2;	/* MSI: EventID */
};

enum script_req { REQ_NONE, REQ_PAUSE, REQ_RESUME, REQ_SNAPSHOT, REQ_MIGRATE, REQ_MSI };

#define SCRIPT_WINDOW 65536u	/* unmatched console output kept for WAIT */

struct script {
	const char *path;
	struct script_cmd *cmds;
	unsigned int n, start, pc;
	const char *input_path;	/* input a migrated run sends first */
	int in_r, in_w, out_r, out_w;
	const struct control_ops *ops;	/* what the VM does for the script (main thread; stop from any) */
	void *ops_opaque;
	int req_fd;		/* eventfd: the script thread asks the main thread to act */
	pthread_t thread;
	bool thread_started;
	unsigned int timeout_s;

	pthread_mutex_t lock;	/* guards the request and the VM's end below */
	enum script_req req;
	bool req_done;
	int req_result;
	char req_msg[512];
	bool vm_ended;
	int vm_status;

	int result;		/* the process exit status the script decided, or -1 */
	bool migrated;
	char migrate_dir[PATH_MAX];	/* a migrate's directory, for script_migrate_continue */
	unsigned int migrate_start;	/* the command the new process continues at */
	char buf[SCRIPT_WINDOW];
	size_t buf_len;
	/* Console output not yet on stdout: a partial line, held briefly so log lines do not split it. */
	char line[4096];
	size_t line_len;
	uint64_t line_since_ms;
};

static const struct {
	const char *name;
	enum script_op op;
	int args;	/* 0 none, 1 text, 2 number, 3 two numbers (32-bit) */
} script_words[] = {
	{ "wait", OP_WAIT, 1 },
	{ "send", OP_SEND, 1 },
	{ "sendline", OP_SEND, 1 },
	{ "timeout", OP_TIMEOUT, 2 },
	{ "sleep", OP_SLEEP, 2 },
	{ "pause", OP_PAUSE, 0 },
	{ "resume", OP_RESUME, 0 },
	{ "snapshot", OP_SNAPSHOT, 1 },
	{ "migrate", OP_MIGRATE, 0 },
	{ "expect-exit", OP_EXPECT_EXIT, 2 },
	{ "msi", OP_MSI, 3 },
};

/* --- parsing ---------------------------------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Text argument: the rest of the line, optionally in double quotes; escapes \n \r \t \\ \" \xHH. */
static int parse_text(const char *s, char **out, size_t *len)
{
	size_t n = strlen(s), o = 0;
	char *t;

	if (n && s[0] == '"') {
		if (n < 2 || s[n - 1] != '"')
			return -EINVAL;
		s++;
		n -= 2;
	}
	t = malloc(n + 2);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			t[o++] = s[i];
			continue;
		}
		if (++i == n)
			goto bad;
		switch (s[i]) {
		case 'n': t[o++] = '\n'; break;
		case 'r': t[o++] = '\r'; break;
		case 't': t[o++] = '\t'; break;
		case '\\': t[o++] = '\\'; break;
		case '"': t[o++] = '"'; break;
		case 'x':
			if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
				goto bad;
			t[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
			break;
		default:
			goto bad;
		}
	}
	*out = t;
	*len = o;
	return o ? 0 : -EINVAL;
bad:
	free(t);
	return -EINVAL;
}

/* "A B": two decimal numbers below 2^32 and nothing else. */
static int parse_two_u32(const char *arg, unsigned long *a, unsigned long *b)
{
	char *end;

	errno = 0;
	*a = strtoul(arg, &end, 10);
	if (!isdigit((unsigned char)*arg) || !isspace((unsigned char)*end) || errno || *a > UINT32_MAX)
		return -EINVAL;
	while (isspace((unsigned char)*end))
		end++;
	arg = end;
	*b = strtoul(arg, &end, 10);
	return isdigit((unsigned char)*arg) && !*end && !errno && *b <= UINT32_MAX ? 0 : -EINVAL;
}

static int parse_line(struct script *s, char *line, unsigned int lineno)
{
	char *p = line, *word, *arg;
	struct script_cmd *c;
	size_t i;

	line[strcspn(line, "\r\n")] = '\0';
	while (isspace((unsigned char)*p))
		p++;
	if (!*p || *p == '#')
		return 0;
	word = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	if (*p)
		*p++ = '\0';
	while (isspace((unsigned char)*p))
		p++;
	arg = p;
	for (i = 0; i < sizeof(script_words) / sizeof(script_words[0]); i++)
		if (strcmp(word, script_words[i].name) == 0)
			break;
	if (i == sizeof(script_words) / sizeof(script_words[0])) {
		pr_err("script %s:%u: unknown command '%s' (see armvmm(1), SCRIPTS)", s->path, lineno, word);
		return -EINVAL;
	}
	if (s->n == SCRIPT_MAX_COMMANDS) {
		pr_err("script %s: more than %u commands", s->path, SCRIPT_MAX_COMMANDS);
		return -E2BIG;
	}
	c = &s->cmds[s->n];
	*c = (struct script_cmd){ .op = script_words[i].op, .line = lineno };
	if (script_words[i].args == 0 && *arg) {
		pr_err("script %s:%u: '%s' takes no argument", s->path, lineno, word);
		return -EINVAL;
	}
	if (script_words[i].args == 1 && parse_text(arg, &c->text, &c->len) < 0) {
		pr_err("script %s:%u: '%s' needs a text (quotes optional; escapes \\n \\r \\t \\\\ \\\" \\xHH)", s->path,
		       lineno, word);
		return -EINVAL;
	}
	if (script_words[i].args == 2) {
		char *end;
		errno = 0;
		c->num = strtoul(arg, &end, 10);
		if (!isdigit((unsigned char)*arg) || *end || errno || c->num > 86400000ul ||
		    (c->op == OP_EXPECT_EXIT && c->num > 255) || (c->op == OP_TIMEOUT && c->num == 0)) {
			pr_err("script %s:%u: '%s' needs a whole number%s", s->path, lineno, word,
			       c->op == OP_EXPECT_EXIT ? " from 0 to 255" : c->op == OP_TIMEOUT ? " of seconds above 0" : "");
			return -EINVAL;
		}
	}
	if (script_words[i].args == 3 && parse_two_u32(arg, &c->num, &c->num2) < 0) {
		pr_err("script %s:%u: '%s' needs two whole numbers below 2^32 (a DeviceID and an EventID)", s->path,
		       lineno, word);
		return -EINVAL;
	}
	if (strcmp(word, "sendline") == 0)
		c->text[c->len++] = '\n'; /* parse_text left room */
	s->n++;
	return 0;
}

int script_load(const struct vm_config *cfg, struct script **out)
{
	struct script *s = calloc(1, sizeof(*s));
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	unsigned int lineno = 0;
	int ret = 0;

	if (!s)
		return -ENOMEM;
	s->path = cfg->script_path;
	s->start = cfg->script_start;
	s->input_path = cfg->script_input;
	s->in_r = s->in_w = s->out_r = s->out_w = s->req_fd = -1;
	s->result = -1;
	s->timeout_s = SCRIPT_DEFAULT_TIMEOUT_S;
	pthread_mutex_init(&s->lock, NULL);
	s->cmds = calloc(SCRIPT_MAX_COMMANDS, sizeof(*s->cmds));
	f = fopen(s->path, "re");
	if (!s->cmds || !f) {
		ret = -errno;
		pr_err("cannot read script '%s': %s", s->path, strerror(errno));
		goto out;
	}
	while (!ret && getline(&line, &cap, f) >= 0)
		ret = parse_line(s, line, ++lineno);
	if (!ret && s->start > s->n) {
		pr_err("script %s: cannot continue at command %u, it has %u", s->path, s->start, s->n);
		ret = -EINVAL;
	}
	/* A migrated run continues with the timeout the commands before it set. */
	for (unsigned int i = 0; !ret && i < s->start; i++)
		if (s->cmds[i].op == OP_TIMEOUT)
			s->timeout_s = (unsigned int)s->cmds[i].num;
out:
	free(line);
	if (f)
		fclose(f);
	if (ret < 0) {
		script_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int script_console_fds(struct script *s, int *in_fd, int *out_fd)
{
	int in[2], outp[2];

	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(outp, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	s->in_r = in[0];
	s->in_w = in[1];
	s->out_r = outp[0];
	s->out_w = outp[1];
	/* The console device reads only what is there; the script never blocks on either pipe. */
	fcntl(s->in_r, F_SETFL, O_NONBLOCK);
	fcntl(s->in_w, F_SETFL, O_NONBLOCK);
	fcntl(s->out_r, F_SETFL, O_NONBLOCK);
	*in_fd = s->in_r;
	*out_fd = s->out_w;
	return 0;
}

/* --- running ------------------------------------------------------------------ */

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* stdout gone: the guest keeps running, its output is dropped */
		p += w;
		n -= (size_t)w;
	}
}

/*
 * How long a partial line waits for its end before it goes out anyway. Long
 * enough that a guest printing a byte per MMIO exit on a slow (nested,
 * emulated) host finishes its line: 100 ms was not, and a log line then split
 * "snap-gic: all o" from its "k".
 */
#define SCRIPT_LINE_HOLD_MS 1000u

static void flush_line(struct script *s)
{
	write_all(STDOUT_FILENO, s->line, s->line_len);
	s->line_len = 0;
}

/*
 * Copy console output to stdout a line at a time: the UART hands it over a
 * byte at a time, and armvmm's own log lines (stderr, often the same file)
 * would otherwise land in the middle of the guest's lines. A partial line
 * (a prompt) goes out after SCRIPT_LINE_HOLD_MS.
 */
static void emit(struct script *s, const char *p, size_t n)
{
	while (n) {
		size_t take = sizeof(s->line) - s->line_len < n ? sizeof(s->line) - s->line_len : n;
		if (s->line_len == 0)
			s->line_since_ms = clock_monotonic_ms();
		memcpy(s->line + s->line_len, p, take);
		s->line_len += take;
		p += take;
		n -= take;
		char *nl = memrchr(s->line, '\n', s->line_len);
		if (nl) {
			size_t upto = (size_t)(nl - s->line) + 1;
			write_all(STDOUT_FILENO, s->line, upto);
			memmove(s->line, s->line + upto, s->line_len - upto);
			s->line_len -= upto;
			s->line_since_ms = clock_monotonic_ms();
		} else if (s->line_len == sizeof(s->line)) {
			flush_line(s);
		}
	}
}

/* Move what the guest printed to stdout and the match window; wait up to ms for some. */
static void pump_output(struct script *s, int ms)
{
	struct pollfd pfd = { .fd = s->out_r, .events = POLLIN };
	char chunk[4096];
	ssize_t n;

	if (s->line_len && clock_monotonic_ms() - s->line_since_ms >= SCRIPT_LINE_HOLD_MS)
		flush_line(s);
	if (poll(&pfd, 1, ms) <= 0)
		return;
	while ((n = read(s->out_r, chunk, sizeof(chunk))) > 0) {
		emit(s, chunk, (size_t)n);
		if ((size_t)n > SCRIPT_WINDOW - s->buf_len) {
			/* Keep the newest output: a WAIT looks for text that is still to come. */
			size_t drop = (size_t)n - (SCRIPT_WINDOW - s->buf_len);
			if (drop > s->buf_len)
				drop = s->buf_len;
			memmove(s->buf, s->buf + drop, s->buf_len - drop);
			s->buf_len -= drop;
		}
		size_t take = (size_t)n < SCRIPT_WINDOW ? (size_t)n : SCRIPT_WINDOW;
		memcpy(s->buf + s->buf_len, chunk + (size_t)n - take, take);
		s->buf_len += take;
	}
}

static bool vm_has_ended(struct script *s)
{
	pthread_mutex_lock(&s->lock);
	bool ended = s->vm_ended;
	pthread_mutex_unlock(&s->lock);
	return ended;
}

/* One error line naming the script line; the script fails and the VM (if still running) ends. */
__attribute__((format(printf, 3, 4)))
static void script_fail(struct script *s, const struct script_cmd *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("script %s:%u: %s", s->path, c->line, msg);
	s->result = VM_EXIT_SCRIPT;
	s->ops->stop(s->ops_opaque, VM_EXIT_SCRIPT);
}

/* Show a text in an error line: printable, no longer than 60 characters. */
static const char *printable(const struct script_cmd *c, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < c->len && o + 5 < cap && o < 60; i++) {
		unsigned char ch = (unsigned char)c->text[i];
		o += (size_t)snprintf(out + o, cap - o, isprint(ch) ? "%c" : "\\x%02x", ch);
	}
	out[o] = '\0';
	return out;
}

static bool do_wait(struct script *s, const struct script_cmd *c)
{
	uint64_t deadline = clock_monotonic_ms() + (uint64_t)s->timeout_s * 1000u;
	char shown[128];

	for (;;) {
		char *hit = memmem(s->buf, s->buf_len, c->text, c->len);
		if (hit) {
			size_t used = (size_t)(hit - s->buf) + c->len;
			memmove(s->buf, s->buf + used, s->buf_len - used);
			s->buf_len -= used;
			return true;
		}
		if (vm_has_ended(s)) {
			pump_output(s, 0);
			if (memmem(s->buf, s->buf_len, c->text, c->len))
				continue;
			script_fail(s, c, "the VM ended before '%s' appeared", printable(c, shown, sizeof(shown)));
			return false;
		}
		if (clock_monotonic_ms() >= deadline) {
			script_fail(s, c, "'%s' did not appear within %u s", printable(c, shown, sizeof(shown)),
				    s->timeout_s);
			return false;
		}
		pump_output(s, 100);
	}
}

static bool do_send(struct script *s, const struct script_cmd *c)
{
	uint64_t deadline = clock_monotonic_ms() + (uint64_t)s->timeout_s * 1000u;
	size_t off = 0;

	while (off < c->len) {
		ssize_t w = write(s->in_w, c->text + off, c->len - off);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			script_fail(s, c, "sending console input failed: %s", strerror(errno));
			return false;
		}
		if (vm_has_ended(s) || clock_monotonic_ms() >= deadline) {
			script_fail(s, c, "the guest did not take the input");
			return false;
		}
		pump_output(s, 50); /* the guest is not reading: let it print meanwhile */
	}
	return true;
}

static void do_sleep(struct script *s, unsigned long ms)
{
	uint64_t end = clock_monotonic_ms() + ms;

	for (uint64_t t = clock_monotonic_ms(); t < end && !vm_has_ended(s); t = clock_monotonic_ms())
		pump_output(s, (int)(end - t < 100 ? end - t : 100));
}

/* Ask the main thread to act and wait for it, printing the guest's output meanwhile. */
static int request(struct script *s, enum script_req req)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->lock);
	s->req = req;
	s->req_done = false;
	s->req_msg[0] = '\0';
	pthread_mutex_unlock(&s->lock);
	if (write(s->req_fd, &one, sizeof(one)) < 0)
		return -errno;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		bool done = s->req_done, ended = s->vm_ended;
		int ret = s->req_result;
		pthread_mutex_unlock(&s->lock);
		if (done)
			return ret;
		if (ended)
			return -ESHUTDOWN;
		pump_output(s, 20);
	}
}

/* An MSI (REQ_MSI) must also have been translated: one the guest's ITS drops (0) fails the script. */
static bool do_request(struct script *s, const struct script_cmd *c, enum script_req req, const char *what)
{
	int ret = request(s, req);

	if (ret < 0)
		script_fail(s, c, "%s failed: %s", what, s->req_msg[0] ? s->req_msg : strerror(-ret));
	else if (ret == 0 && req == REQ_MSI)
		script_fail(s, c, "the guest's ITS dropped the MSI from DeviceID %lu, EventID %lu (not mapped, or the ITS is disabled)",
			    c->num, c->num2);
	return ret > 0 || (ret == 0 && req != REQ_MSI);
}

static bool do_expect_exit(struct script *s, const struct script_cmd *c)
{
	uint64_t deadline = clock_monotonic_ms() + (uint64_t)s->timeout_s * 1000u;

	while (!vm_has_ended(s)) {
		if (clock_monotonic_ms() >= deadline) {
			script_fail(s, c, "the VM did not end within %u s", s->timeout_s);
			return false;
		}
		pump_output(s, 100);
	}
	if ((unsigned long)s->vm_status != c->num) {
		script_fail(s, c, "the VM ended with status %d, expected %lu", s->vm_status, c->num);
		return false;
	}
	s->result = 0;
	return true;
}

static bool run_command(struct script *s, const struct script_cmd *c)
{
	switch (c->op) {
	case OP_WAIT: return do_wait(s, c);
	case OP_SEND: return do_send(s, c);
	case OP_TIMEOUT: s->timeout_s = (unsigned int)c->num; return true;
	case OP_SLEEP: do_sleep(s, c->num); return true;
	case OP_PAUSE: return do_request(s, c, REQ_PAUSE, "pause");
	case OP_RESUME: return do_request(s, c, REQ_RESUME, "resume");
	case OP_SNAPSHOT: return do_request(s, c, REQ_SNAPSHOT, "snapshot");
	case OP_MIGRATE:
		if (!do_request(s, c, REQ_MIGRATE, "migrate"))
			return false;
		s->migrated = true;
		return false; /* this process's part of the script ends here */
	case OP_EXPECT_EXIT: return do_expect_exit(s, c);
	case OP_MSI: return do_request(s, c, REQ_MSI, "msi");
	}
	return false;
}

/* Console input a migrated run owes the guest: what the previous process had sent but the guest had not taken. */
static bool send_carried_input(struct script *s)
{
	struct script_cmd c = { .op = OP_SEND, .line = 0 };
	char buf[65536];
	ssize_t n;
	int fd;

	if (!s->input_path)
		return true;
	fd = open(s->input_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* nothing was pending */
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		return true;
	c.text = buf;
	c.len = (size_t)n;
	return do_send(s, &c);
}

static void *script_thread(void *arg)
{
	struct script *s = arg;
	bool ok = send_carried_input(s);

	for (s->pc = s->start; ok && s->pc < s->n; s->pc++) {
		const struct script_cmd *c = &s->cmds[s->pc];
		ok = run_command(s, c);
		if (ok && c->op == OP_EXPECT_EXIT)
			break;
	}
	if (ok && s->result < 0) {
		/* The script ran to its end without waiting for the guest to end: it passed; stop the VM. */
		s->result = 0;
		pr_info("script %s: done, stopping the VM", s->path);
		s->ops->stop(s->ops_opaque, VM_EXIT_POWEROFF);
	}
	/* Keep the guest's last words flowing to stdout until the VM is gone. */
	while (!vm_has_ended(s))
		pump_output(s, 100);
	pump_output(s, 0);
	flush_line(s);
	return NULL;
}

static void script_serve_request(struct script *s);

static void script_req_cb(void *opaque, int fd, short revents)
{
	(void)revents;
	if (eventfd_drain(fd) > 0)
		script_serve_request(opaque);
}

int script_start(struct script *s, struct eventloop *loop, const struct control_ops *ops, void *opaque)
{
	int ret;

	s->ops = ops;
	s->ops_opaque = opaque;
	s->req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->req_fd < 0 || eventloop_add(loop, s->req_fd, POLLIN, script_req_cb, s) < 0) {
		pr_err("cannot set up the script's requests: %s", s->req_fd < 0 ? strerror(errno) : "no room in the event loop");
		return -ENOSPC;
	}
	ret = pthread_create(&s->thread, NULL, script_thread, s);
	if (ret) {
		pr_err("starting the script thread failed: %s", strerror(ret));
		return -ret;
	}
	s->thread_started = true;
	return 0;
}

static int save_pending_input(struct script *s, const char *dir)
{
	char path[PATH_MAX + 16], buf[65536];
	ssize_t n = read(s->in_r, buf, sizeof(buf));
	int fd;

	if (n <= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/input", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, (size_t)n) != n) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		pr_err("saving pending console input to %s failed: %s", path, strerror(err));
		return -err;
	}
	close(fd);
	return 0;
}

static int serve_migrate(struct script *s, char *msg, size_t cap)
{
	struct control_snapshot_result res;
	const char *tmpdir = getenv("TMPDIR");
	char dir[PATH_MAX], snap[PATH_MAX + 16];
	int ret;

	snprintf(dir, sizeof(dir), "%s/armvmm-migrate-XXXXXX", tmpdir && *tmpdir == '/' ? tmpdir : "/tmp");
	if (!mkdtemp(dir)) {
		ret = -errno;
		snprintf(msg, cap, "cannot create a migration directory in %s: %s", tmpdir ? tmpdir : "/tmp",
			 strerror(errno));
		return ret;
	}
	snprintf(snap, sizeof(snap), "%s/snap", dir);
	/*
	 * The VM stays paused from the snapshot to its end: nothing it prints or
	 * reads after this point may happen twice, and the input it has not taken
	 * stays in the pipe for save_pending_input.
	 */
	ret = s->ops->snapshot(s->ops_opaque, snap, true, &res, msg, cap);
	if (ret == 0)
		ret = save_pending_input(s, dir);
	if (ret < 0) {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof(cmd), "%s/snap", dir);
		rmdir(cmd);
		rmdir(dir);
		if (!msg[0])
			snprintf(msg, cap, "%s", strerror(-ret));
		return ret;
	}
	snprintf(s->migrate_dir, sizeof(s->migrate_dir), "%s", dir);
	s->migrate_start = s->pc + 1;
	pr_info("migrating: snapshot in %s, continuing in a new armvmm process", snap);
	return 0;
}

/* Main thread: carry out what the script thread asked for. */
static void script_serve_request(struct script *s)
{
	struct control_snapshot_result res;
	char msg[512] = "";
	uint64_t ns;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	enum script_req req = s->req;
	s->req = REQ_NONE;
	pthread_mutex_unlock(&s->lock);
	switch (req) {
	case REQ_NONE: return;
	case REQ_PAUSE: ret = s->ops->pause(s->ops_opaque, &ns); break;
	case REQ_RESUME: ret = s->ops->resume(s->ops_opaque); break;
	case REQ_SNAPSHOT:
		ret = s->ops->snapshot(s->ops_opaque, s->cmds[s->pc].text, false, &res, msg, sizeof(msg));
		break;
	case REQ_MIGRATE: ret = serve_migrate(s, msg, sizeof(msg)); break;
	case REQ_MSI:
		ret = s->ops->msi ? s->ops->msi(s->ops_opaque, (uint32_t)s->cmds[s->pc].num, (uint32_t)s->cmds[s->pc].num2,
						msg, sizeof(msg))
				  : -EOPNOTSUPP;
		break;
	}
	pthread_mutex_lock(&s->lock);
	s->req_result = ret;
	snprintf(s->req_msg, sizeof(s->req_msg), "%s", msg);
	s->req_done = true;
	pthread_mutex_unlock(&s->lock);
}

int script_finish(struct script *s, int vm_status)
{
	pthread_mutex_lock(&s->lock);
	s->vm_ended = true;
	s->vm_status = vm_status;
	pthread_mutex_unlock(&s->lock);
	if (s->thread_started) {
		pthread_join(s->thread, NULL);
		s->thread_started = false;
	}
	if (s->migrated)
		return 0; /* the new process's status decides (script_migrate_continue) */
	if (s->result >= 0)
		return s->result;
	/* The VM ended while the script still had commands to run. */
	if (s->pc < s->n)
		pr_err("script %s:%u: the VM ended (status %d) before the script finished", s->path, s->cmds[s->pc].line,
		       vm_status);
	return VM_EXIT_SCRIPT;
}

void script_free(struct script *s)
{
	if (!s)
		return;
	for (unsigned int i = 0; s->cmds && i < s->n; i++)
		free(s->cmds[i].text);
	free(s->cmds);
	if (s->in_r >= 0)
		close(s->in_r);
	if (s->in_w >= 0)
		close(s->in_w);
	if (s->out_r >= 0)
		close(s->out_r);
	if (s->out_w >= 0)
		close(s->out_w);
	close_fd(&s->req_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* --- migration ----------------------------------------------------------------- */

bool script_migration(const struct script *s, char *dir, size_t cap, unsigned int *start)
{
	if (!s->migrate_dir[0])
		return false;
	snprintf(dir, cap, "%s", s->migrate_dir);
	*start = s->migrate_start;
	return true;
}

static void remove_migrate_dir(const char *dir)
{
	static const char *const files[] = { "snap/state", "snap/memory", "input" };
	char p[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/snap", dir);
	rmdir(p);
	if (rmdir(dir) < 0)
		pr_warn("could not remove the migration directory %s: %s", dir, strerror(errno));
}

int script_migrate_continue(const struct vm_config *cfg, const char *migrate_dir, unsigned int start)
{
	static const char *const levels[] = { "error", "warning", "info", "debug" };
	char snap[PATH_MAX + 16], input[PATH_MAX + 16], start_s[16];
	const char *argv[16];
	unsigned int a = 0;
	struct stat st;
	sigset_t none;
	int status;
	pid_t pid;

	snprintf(snap, sizeof(snap), "%s/snap", migrate_dir);
	snprintf(input, sizeof(input), "%s/input", migrate_dir);
	snprintf(start_s, sizeof(start_s), "%u", start);
	argv[a++] = "armvmm";
	argv[a++] = "restore";
	argv[a++] = snap;
	argv[a++] = "--script";
	argv[a++] = cfg->script_path;
	argv[a++] = "--script-start";
	argv[a++] = start_s;
	argv[a++] = "--loglevel";
	argv[a++] = levels[cfg->loglevel];
	if (stat(input, &st) == 0) {
		argv[a++] = "--script-input";
		argv[a++] = input;
	}
	if (cfg->name) {
		argv[a++] = "--name";
		argv[a++] = cfg->name;
	}
	argv[a] = NULL;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		pr_err("migrate: cannot start a new armvmm process: %s", strerror(errno));
		remove_migrate_dir(migrate_dir);
		return VM_EXIT_ERROR;
	}
	if (pid == 0) {
		/* vm_run blocked the stop signals for its signalfd; the new process sets up its own. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execv("/proc/self/exe", (char *const *)argv);
		pr_err("migrate: cannot run /proc/self/exe: %s", strerror(errno));
		_exit(VM_EXIT_ERROR);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	remove_migrate_dir(migrate_dir);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return VM_EXIT_SIGNAL_BASE + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
