/*
 * Reading a script (armvmm(1), SCRIPTS): one command per line, checked
 * whole before the VM starts, so a typo fails at once and not an hour into
 * a test.
 */
#include "app/script_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

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

/*
 * A migrated run's carried input (--script-input), read now: the script
 * thread runs sandboxed and opens no files. No file means nothing was pending.
 */
static int load_carried_input(struct script *s)
{
	ssize_t n;
	int fd;

	if (!s->input_path)
		return 0;
	fd = open(s->input_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	s->carried = malloc(SCRIPT_CARRIED_MAX);
	if (!s->carried) {
		close(fd);
		return -ENOMEM;
	}
	do
		n = read(fd, s->carried, SCRIPT_CARRIED_MAX);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0) {
		pr_err("cannot read the carried console input '%s': %s", s->input_path, strerror(errno));
		return -EIO;
	}
	s->carried_len = (size_t)n;
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
	s->in_r = s->in_w = s->out_r = s->out_w = s->req_fd = s->end_fd = s->launcher.fd = -1;
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
	errno = 0;
	while (!ret && getline(&line, &cap, f) >= 0)
		ret = parse_line(s, line, ++lineno);
	/* getline's -1 is also a read error (a directory: EISDIR): never take that for the end. */
	if (!ret && ferror(f)) {
		ret = errno ? -errno : -EIO;
		pr_err("cannot read script '%s': %s", s->path, strerror(-ret));
	}
	if (!ret)
		ret = load_carried_input(s);
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

