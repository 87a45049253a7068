/*
 * Walks the reply table: every entry set, a code in 200..599, an enhanced
 * code of the same class (or none), at most one "%s" and no other '%'.
 * Prints one line per problem and exits 1 if there was any.
 */
#include <stdio.h>
#include <string.h>

#include "../reply.h"

int
main(void)
{
	int i, bad = 0;

	for (i = 0; i < R_COUNT; i++) {
		const struct reply_text *t = &replies[i];
		const char *p;
		int marks = 0;

		if (t->text == NULL || t->esc == NULL) {
			printf("reply %d: not set\n", i);
			bad = 1;
			continue;
		}
		if (t->code < 200 || t->code > 599) {
			printf("reply %d: code %d\n", i, t->code);
			bad = 1;
		}
		if (t->esc[0] != '\0' && (t->esc[0] != '0' + t->code / 100 ||
		    t->esc[1] != '.')) {
			printf("reply %d: %d with enhanced code %s\n", i,
			    t->code, t->esc);
			bad = 1;
		}
		for (p = t->text; (p = strchr(p, '%')) != NULL; p++) {
			if (p[1] != 's') {
				printf("reply %d: stray %%\n", i);
				bad = 1;
			}
			marks++;
		}
		if (marks > 1) {
			printf("reply %d: %d markers\n", i, marks);
			bad = 1;
		}
	}
	return bad;
}
