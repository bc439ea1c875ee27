/*
 * What armvmm prints on stderr, captured in a unit test: capture_begin(),
 * the call, then capture_end() returns the text (up to 4 KiB). One copy for
 * every test that checks an error line; each includes it once.
 */
#ifndef ARMVMM_TESTS_UNIT_CAPTURE_H
#define ARMVMM_TESTS_UNIT_CAPTURE_H

#include <stdio.h>
#include <unistd.h>

static char captured[4096];
static FILE *cap_file;
static int saved_stderr = -1;

static void capture_begin(void)
{
	fflush(stderr);
	cap_file = tmpfile();
	assert_non_null(cap_file);
	saved_stderr = dup(2);
	dup2(fileno(cap_file), 2);
}

static const char *capture_end(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	rewind(cap_file);
	size_t n = fread(captured, 1, sizeof(captured) - 1, cap_file);
	captured[n] = 0;
	fclose(cap_file);
	return captured;
}

#endif
