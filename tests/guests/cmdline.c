/*
 * cmdline.bin: checks that /chosen/bootargs is exactly the command line the
 * VMM was given, as a kvm-unit-tests style binary that takes its arguments
 * from there needs it. The command line describes itself:
 *
 *   cmdline [WORD...] cmdline.argc=N cmdline.len=L
 *
 * "cmdline" must be the first word (nothing in front, e.g. no console=),
 * N the number of words (runs of non-blanks) and L the length in bytes of the
 * whole line; the line must not end in a blank. Prints
 *
 *   cmdline: bootargs=[<bootargs>]
 *   cmdline: argv[<i>]=<word>		(each word)
 *   cmdline: argc=<N> len=<L> verbatim ok
 */
#include "guest.h"

#define MAX_ARGS 64

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n'; }

static bool starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return false;
	return true;
}

/* A decimal number filling the rest of the word [s, end); -1 if it is not one. */
static long parse_num(const char *s, const char *end)
{
	long v = 0;

	if (s == end)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9' || v > 100000000)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

void guest_main(uintptr_t dtb)
{
	const char *bootargs, *p;
	long want_argc = -1, want_len = -1;
	int chosen, err, argc = 0;
	char word[256];

	guest_init(dtb, true);
	chosen = fdt_path_offset(&guest_fdt, "/chosen");
	if (chosen < 0)
		fail("cmdline: no /chosen node: %s", fdt_strerror(chosen));
	err = fdt_getprop_string(&guest_fdt, chosen, "bootargs", &bootargs);
	if (err < 0)
		fail("cmdline: /chosen/bootargs: %s", fdt_strerror(err));
	kprintf("cmdline: bootargs=[%s]\n", bootargs);

	for (p = bootargs; *p;) {
		const char *start, *end;
		size_t n;

		while (is_blank(*p))
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && !is_blank(*p))
			p++;
		end = p;
		n = (size_t)(end - start);
		if (n >= sizeof(word))
			n = sizeof(word) - 1;
		memcpy(word, start, n);
		word[n] = '\0';
		kprintf("cmdline: argv[%d]=%s\n", argc, word);
		if (argc == 0 && strcmp(word, "cmdline") != 0)
			fail("cmdline: the first argument is '%s', not 'cmdline': something was put in front of the command line",
			     word);
		if (starts_with(start, "cmdline.argc="))
			want_argc = parse_num(start + 13, end);
		if (starts_with(start, "cmdline.len="))
			want_len = parse_num(start + 12, end);
		if (++argc > MAX_ARGS)
			fail("cmdline: more than %d arguments", MAX_ARGS);
	}
	if (argc == 0)
		fail("cmdline: the command line is empty");
	if (want_argc < 0 || want_len < 0)
		fail("cmdline: the command line lacks cmdline.argc=N and cmdline.len=L (or they are not numbers)");
	if (argc != want_argc)
		fail("cmdline: %d arguments, the command line says %ld: words were added or lost", argc, want_argc);
	if ((long)strlen(bootargs) != want_len)
		fail("cmdline: the command line is %ld bytes long, it says %ld", (long)strlen(bootargs), want_len);
	if (is_blank(bootargs[strlen(bootargs) - 1]))
		fail("cmdline: the command line ends in a blank");
	kprintf("cmdline: argc=%d len=%ld verbatim ok\n", argc, want_len);
	psci_system_off();
}
