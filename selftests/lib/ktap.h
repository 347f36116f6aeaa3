/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal TAP 13 / kselftest result helpers for lockfix's test programs.
 * Exit codes follow tools/testing/selftests/kselftest.h: 0 pass, 1 fail, 4 skip.
 */
#ifndef LOCKFIX_KTAP_H
#define LOCKFIX_KTAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define KSFT_PASS 0
#define KSFT_FAIL 1
#define KSFT_XFAIL 2
#define KSFT_XPASS 3
#define KSFT_SKIP 4

static unsigned int ktap_num, ktap_pass, ktap_fail, ktap_skip;

static inline void ktap_header(unsigned int plan)
{
	printf("TAP version 13\n1..%u\n", plan);
	fflush(stdout);
}

static inline void ktap_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	fflush(stdout);
}

static inline void ktap_result(int verdict, const char *name, const char *why)
{
	ktap_num++;
	switch (verdict) {
	case KSFT_PASS:
		ktap_pass++;
		printf("ok %u %s\n", ktap_num, name);
		break;
	case KSFT_SKIP:
		ktap_skip++;
		printf("ok %u %s # SKIP %s\n", ktap_num, name, why ? why : "");
		break;
	default:
		ktap_fail++;
		printf("not ok %u %s%s%s\n", ktap_num, name, why ? " # " : "", why ? why : "");
		break;
	}
	fflush(stdout);
}

static inline int ktap_finish(void)
{
	printf("# Totals: pass:%u fail:%u xfail:0 xpass:0 skip:%u error:0\n",
	       ktap_pass, ktap_fail, ktap_skip);
	fflush(stdout);
	if (ktap_fail)
		return KSFT_FAIL;
	if (ktap_skip && !ktap_pass)
		return KSFT_SKIP;
	return KSFT_PASS;
}

#endif
