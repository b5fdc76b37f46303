// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: the control grammar and the checks every change passes.
 *
 *   engage <sym> <retval> [filter...]
 *   tryengage <sym> <retval> <T> [filter...]	T in 0..86400 seconds
 *   observe <sym>
 *   engagebpf <sym> </path/to/prog.bpf.o>
 *   disengage <sym>
 *   disengage_all
 *
 * filter: uid=<n> uid!=<n> arg<N>=<v> arg<N>!=<v>, N in 1..6; all 64 bits of
 * the argument are compared, or with arg<N>:32 only the low 32 (an int).
 * sym: name, module:name, or name@0x<address> for a name several
 * functions share.
 * Tokens are separated by spaces or tabs; one trailing newline is allowed.
 * Anything else is -EINVAL and changes nothing.
 */
#define pr_fmt(fmt) "killswitch: " fmt

#include <linux/audit.h>
#include <linux/cred.h>
#include <linux/ctype.h>
#include <linux/kernel.h>
#include <linux/printk.h>
#include <linux/limits.h>
#include <linux/security.h>
#include <linux/string.h>
#include <linux/uidgid.h>

#include "ks.h"

/* Longest line: tryengage, symbol, retval, T and every filter. */
#define KS_MAX_TOKENS	(4 + KS_MAX_FILTERS)

static bool ks_all(const char *s, int (*pred)(int c))
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!pred((unsigned char)*s))
			return false;
	return true;
}

static int ks_isdigit(int c)
{
	return isdigit(c);
}

static int ks_isxdigit(int c)
{
	return isxdigit(c);
}

static int ks_issymchar(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == ':' || c == '@';
}

/*
 * A signed long in decimal or 0x-hex, optionally signed.  Hex accepts the
 * full 64-bit pattern (0xffffffffffffffff is -1); octal is not accepted,
 * so "010" is ten, not eight.
 */
int ks_parse_long(const char *s, long *out)
{
	bool neg = false, hex = false;
	unsigned long v;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		hex = true;
		s += 2;
		if (!ks_all(s, ks_isxdigit) || kstrtoul(s, 16, &v))
			return -EINVAL;
	} else if (!ks_all(s, ks_isdigit) || kstrtoul(s, 10, &v)) {
		return -EINVAL;
	}
	if (neg) {
		if (v > (unsigned long)LONG_MAX + 1)
			return -EINVAL;
		*out = (long)(0UL - v);
	} else {
		if (!hex && v > LONG_MAX)
			return -EINVAL;
		*out = (long)v;
	}
	return 0;
}

bool ks_valid_sym(const char *s)
{
	return strlen(s) < KSYM_NAME_LEN && ks_all(s, ks_issymchar);
}

/* uid=<n>, uid!=<n>, arg<N>=<v>, arg<N>!=<v> */
static int ks_parse_filter(char *s, struct ks_filter *f)
{
	char *eq = strchr(s, '=');
	long v;

	if (!eq)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	*eq = '\0';
	if (eq > s && eq[-1] == '!') {
		f->negate = 1;
		eq[-1] = '\0';
	}
	if (ks_parse_long(eq + 1, &v))
		return -EINVAL;
	if (!strcmp(s, "uid")) {
		if (v < 0 || v > U32_MAX)
			return -EINVAL;
		f->kind = KS_FILTER_UID;
	} else if (!strncmp(s, "arg", 3) && s[3] >= '1' &&
		   s[3] <= '0' + KS_MAX_ARG &&
		   (!s[4] || !strcmp(s + 4, ":32"))) {
		f->kind = KS_FILTER_ARG;
		f->arg = s[3] - '0';
		f->width = s[4] ? 32 : 64;
		/* A 32-bit comparison of a value that does not fit is a typo. */
		if (f->width == 32 && (v < INT_MIN || v > (long)U32_MAX))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	f->value = v;
	return 0;
}

static int ks_parse_filters(char **tok, int n, struct ks_request *req)
{
	int i, err;

	if (n > KS_MAX_FILTERS)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		err = ks_parse_filter(tok[i], &req->filters[i]);
		if (err)
			return err;
	}
	req->nfilters = n;
	return 0;
}

/* Split @line in place; -EINVAL on any byte that is not printable. */
static int ks_tokenize(char *line, char **tok, int max)
{
	size_t len = strlen(line);
	int n = 0;
	char *p;

	if (len && line[len - 1] == '\n')
		line[--len] = '\0';
	for (p = line; *p; p++)
		if (*p != ' ' && *p != '\t' && (*p < 0x21 || *p > 0x7e))
			return -EINVAL;
	for (p = line; *p;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		if (n == max)
			return -EINVAL;
		tok[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	return n;
}

int ks_parse_request(char *line, struct ks_request *req)
{
	char *tok[KS_MAX_TOKENS];
	const char *verb;
	int n;

	memset(req, 0, sizeof(*req));
	n = ks_tokenize(line, tok, ARRAY_SIZE(tok));
	if (n <= 0)
		return -EINVAL;
	verb = tok[0];

	if (!strcmp(verb, "disengage_all")) {
		req->verb = KS_VERB_DISENGAGE_ALL;
		return n == 1 ? 0 : -EINVAL;
	}
	if (n < 2 || !ks_valid_sym(tok[1]))
		return -EINVAL;
	req->sym = tok[1];

	if (!strcmp(verb, "engage")) {
		req->verb = KS_VERB_ENGAGE;
		if (n < 3 || ks_parse_long(tok[2], &req->retval))
			return -EINVAL;
		return ks_parse_filters(tok + 3, n - 3, req);
	}
	if (!strcmp(verb, "tryengage")) {
		req->verb = KS_VERB_TRYENGAGE;
		if (n < 4 || ks_parse_long(tok[2], &req->retval) ||
		    !ks_all(tok[3], ks_isdigit) ||
		    kstrtouint(tok[3], 10, &req->timeout) ||
		    req->timeout > KS_MAX_PROBE_SECS)
			return -EINVAL;
		return ks_parse_filters(tok + 4, n - 4, req);
	}
	if (!strcmp(verb, "engagebpf")) {
		req->verb = KS_VERB_ENGAGEBPF;
		if (n != 3 || tok[2][0] != '/' || strlen(tok[2]) >= PATH_MAX)
			return -EINVAL;
		req->path = tok[2];
		return 0;
	}
	if (!strcmp(verb, "observe"))
		req->verb = KS_VERB_OBSERVE;
	else if (!strcmp(verb, "disengage"))
		req->verb = KS_VERB_DISENGAGE;
	else
		return -EINVAL;
	return n == 2 ? 0 : -EINVAL;
}

/* comm is chosen by user space: keep it from forging log fields. */
void ks_sanitize(char *s)
{
	for (; *s; s++)
		if (!isalnum(*s) && !strchr("_-.:/+@", *s))
			*s = '?';
}

void ks_actor_current(struct ks_actor *who)
{
	memset(who, 0, sizeof(*who));
	who->uid = from_kuid(&init_user_ns, current_uid());
	who->auid = from_kuid(&init_user_ns, audit_get_loginuid(current));
	who->ses = audit_get_sessionid(current);
	get_task_comm(who->comm, current);
	ks_sanitize(who->comm);
}

void ks_audit(const struct ks_actor *who, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pr_warn("%pV uid=%u auid=%u ses=%u comm=%s%s\n", &vaf, who->uid,
		who->auid, who->ses, who->comm,
		who->modparam ? " source=modparam" : "");
	va_end(args);
}

/*
 * Lockdown.  A stock kernel has no reason of ours, so ask with an
 * integrity-level one (writing kernel memory through a debugger is the
 * closest in effect: the kernel stops running its own code), and say in
 * our own words what was refused: the lockdown LSM's message names the
 * borrowed reason.
 */
int ks_may_change(const char *what, const char *sym,
		  const struct ks_actor *who)
{
	/*
	 * observe never overrides: like a kprobe event it is only a
	 * confidentiality matter (it records who calls).  Ask only that, so
	 * lockdown=integrity logs no denial of a reason we did not need.
	 */
	if (!strcmp(what, "observe")) {
		if (!security_locked_down(LOCKDOWN_KPROBES))
			return 0;
		ks_audit(who,
			 "observe %s refused: kernel is locked down for confidentiality; it would record who calls the function (lockdown=integrity allows it)",
			 sym);
		return -EPERM;
	}
	if (!security_locked_down(LOCKDOWN_DBG_WRITE_KERNEL))
		return 0;
	ks_audit(who,
		 "%s %s refused: kernel is locked down; runtime changes that make it skip its own code are not allowed, root is not trusted under lockdown (disengage still works; engage= at module load accepts only the reviewed allowlist built into the module)",
		 what, sym);
	return -EPERM;
}

int ks_execute(const struct ks_request *req, const struct ks_actor *who)
{
	static const char * const names[] = {
		[KS_VERB_ENGAGE] = "engage",
		[KS_VERB_TRYENGAGE] = "tryengage",
		[KS_VERB_OBSERVE] = "observe",
		[KS_VERB_ENGAGEBPF] = "engagebpf",
	};
	int err;

	switch (req->verb) {
	case KS_VERB_DISENGAGE:
		return ks_disengage(req->sym, who);
	case KS_VERB_DISENGAGE_ALL:
		return ks_disengage_all(who);
	default:
		break;
	}

	err = ks_may_change(names[req->verb], req->sym, who);
	if (err)
		return err;
	switch (req->verb) {
	case KS_VERB_ENGAGEBPF:
		/*
		 * The program's return value is out of our sight: refuse what
		 * the rails refuse at any value that could mean "allow".
		 */
		err = ks_guard_check(req->sym, 0, who);
		if (!err)
			err = ks_guard_check(req->sym, 1, who);
		return err ? err : ks_engagebpf(req->sym, req->path, who);
	case KS_VERB_OBSERVE:
		return ks_install(req, who);
	default:
		err = ks_guard_check(req->sym, req->retval, who);
		return err ? err : ks_install(req, who);
	}
}
