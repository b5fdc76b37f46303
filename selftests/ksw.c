// SPDX-License-Identifier: GPL-2.0
/*
 * ksw: the selftest's hands.  A shell cannot write a buffer in exactly one
 * write(2) and report the errno, drop a single capability, or make an
 * AF_ALG round trip; this does, and prints results a script can compare:
 * "OK" or the errno's name.
 *
 *   ksw write FILE DATA      one write(2) of DATA (\n \t \0 \\ \xHH decoded)
 *   ksw read FILE            print FILE, or the errno name
 *   ksw nocap CMD...         drop CAP_SYS_ADMIN everywhere, exec CMD
 *   ksw asuser UID CMD...    become UID (and GID UID), exec CMD
 *   ksw userns CMD...        new user namespace mapping 0 to 0, exec CMD
 *   ksw getuid               the getuid() syscall's answer, uncached
 *   ksw getpriority          the raw getpriority(PRIO_PROCESS, 0) syscall
 *                            result (20 - nice), or the errno name
 *   ksw socket FAMILY TYPE   socket(2): OK or the errno name
 *   ksw alg [NAME KEYLEN]    AF_ALG skcipher round trip (cbc(aes), built in
 *                            on Debian's kernels)
 *   ksw aead                 AF_ALG aead gcm(aes) encryption
 *   ksw repeat N CMD...      run CMD N times, print how many exited 0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/if_alg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case E2BIG: return "E2BIG";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case ERANGE: return "ERANGE";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case EILSEQ: return "EILSEQ";
	default: return NULL;
	}
}

static void print_errno(int e)
{
	const char *n = errname(e);

	if (n)
		printf("%s\n", n);
	else
		printf("E%d\n", e);
}

static size_t decode(const char *s, char *out)
{
	size_t n = 0;
	unsigned int x;

	for (; *s; s++) {
		if (*s != '\\' || !s[1]) {
			out[n++] = *s;
			continue;
		}
		switch (*++s) {
		case 'n': out[n++] = '\n'; break;
		case 't': out[n++] = '\t'; break;
		case '0': out[n++] = '\0'; break;
		case '\\': out[n++] = '\\'; break;
		case 'x':
			if (sscanf(s + 1, "%2x", &x) == 1) {
				out[n++] = (char)x;
				s += 2;
				break;
			}
			/* fall through */
		default:
			out[n++] = '\\';
			out[n++] = *s;
		}
	}
	return n;
}

static int cmd_write(const char *file, const char *data)
{
	char *buf = malloc(strlen(data) + 1);
	size_t n = decode(data, buf);
	ssize_t r;
	int fd;

	fd = open(file, O_WRONLY);
	if (fd < 0) {
		print_errno(errno);
		return 0;
	}
	r = write(fd, buf, n);
	if (r < 0)
		print_errno(errno);
	else if ((size_t)r != n)
		printf("SHORT %zd/%zu\n", r, n);
	else
		printf("OK\n");
	close(fd);
	free(buf);
	return 0;
}

static int cmd_read(const char *file)
{
	char buf[65536];
	ssize_t r;
	int fd;

	fd = open(file, O_RDONLY);
	if (fd < 0) {
		print_errno(errno);
		return 0;
	}
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, r, stdout);
	if (r < 0)
		print_errno(errno);
	close(fd);
	return 0;
}

static int drop_cap_sys_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	if (prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0))
		return -1;
	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[0].effective &= ~(1u << CAP_SYS_ADMIN);
	data[0].permitted &= ~(1u << CAP_SYS_ADMIN);
	data[0].inheritable &= ~(1u << CAP_SYS_ADMIN);
	return syscall(SYS_capset, &hdr, data);
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = write(fd, s, strlen(s));
	close(fd);
	return r < 0 ? -1 : 0;
}

static int enter_userns(void)
{
	if (unshare(CLONE_NEWUSER))
		return -1;
	write_file("/proc/self/setgroups", "deny");
	if (write_file("/proc/self/uid_map", "0 0 1\n") ||
	    write_file("/proc/self/gid_map", "0 0 1\n"))
		return -1;
	return 0;
}

static void alg_timeout(int sig)
{
	(void)sig;
	write(1, "TIMEOUT\n", 8);
	_exit(0);
}

static int alg_roundtrip(const char *type, const char *name, size_t keylen)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG };
	char key[32] = { 0 }, in[64] = "killswitch selftest, 64 bytes of plaintext to encrypt here.....";
	char out[128], cbuf[CMSG_SPACE(sizeof(__u32))] = { 0 };
	char ivbuf[CMSG_SPACE(sizeof(__u32)) +
		   CMSG_SPACE(sizeof(struct af_alg_iv) + 12)] = { 0 };
	struct iovec iov = { .iov_base = in, .iov_len = sizeof(in) };
	struct msghdr msg = {
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	struct cmsghdr *c;
	const char *step = "socket";
	int tfm, op;

	/* A crypto self-test stuck under emulation must not hang a suite. */
	signal(SIGALRM, alg_timeout);
	alarm(20);
	strcpy((char *)sa.salg_type, type);
	strcpy((char *)sa.salg_name, name);
	tfm = socket(AF_ALG, SOCK_SEQPACKET, 0);
	if (tfm < 0)
		goto fail;
	step = "bind";
	if (bind(tfm, (struct sockaddr *)&sa, sizeof(sa)) ||
	    setsockopt(tfm, SOL_ALG, ALG_SET_KEY, key, keylen))
		goto fail;
	if (!strcmp(type, "aead") &&
	    setsockopt(tfm, SOL_ALG, ALG_SET_AEAD_AUTHSIZE, NULL, 16))
		goto fail;
	step = "accept";
	op = accept(tfm, NULL, 0);
	if (op < 0)
		goto fail;
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_ALG;
	c->cmsg_type = ALG_SET_OP;
	c->cmsg_len = CMSG_LEN(sizeof(__u32));
	*(__u32 *)CMSG_DATA(c) = ALG_OP_ENCRYPT;
	if (!strcmp(type, "aead")) {
		/* gcm(aes) needs an IV; 16 bytes of tag appended on encrypt */
		struct af_alg_iv *iv;

		msg.msg_control = ivbuf;
		msg.msg_controllen = sizeof(ivbuf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_ALG;
		c->cmsg_type = ALG_SET_OP;
		c->cmsg_len = CMSG_LEN(sizeof(__u32));
		*(__u32 *)CMSG_DATA(c) = ALG_OP_ENCRYPT;
		c = CMSG_NXTHDR(&msg, c);
		c->cmsg_level = SOL_ALG;
		c->cmsg_type = ALG_SET_IV;
		c->cmsg_len = CMSG_LEN(sizeof(struct af_alg_iv) + 12);
		iv = (struct af_alg_iv *)CMSG_DATA(c);
		iv->ivlen = 12;
	}
	step = "sendmsg";
	if (sendmsg(op, &msg, 0) < 0)
		goto fail;
	/*
	 * Read exactly what one operation produces: asking for more makes
	 * newer kernels wait for the next request.  AEAD appends a tag.
	 */
	step = "read";
	if (read(op, out, sizeof(in) + (strcmp(type, "aead") ? 0 : 16)) <= 0)
		goto fail;
	printf("OK\n");
	return 0;
fail:
	if (getenv("KSW_DEBUG"))
		fprintf(stderr, "ksw %s: %s failed\n", type, step);
	print_errno(errno);
	return 0;
}

static int repeat(int n, char **argv)
{
	int i, good = 0, status;
	pid_t pid;

	for (i = 0; i < n; i++) {
		pid = fork();
		if (pid == 0) {
			int devnull = open("/dev/null", O_WRONLY);

			dup2(devnull, 1);
			execvp(argv[0], argv);
			_exit(127);
		}
		if (pid > 0 && waitpid(pid, &status, 0) == pid &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0)
			good++;
	}
	printf("%d\n", good);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: ksw write|read|nocap|asuser|userns|getuid|getpriority|socket|alg|aead|repeat ... (see ksw.c)\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	uid_t uid;

	if (!strcmp(cmd, "write") && argc == 4)
		return cmd_write(argv[2], argv[3]);
	if (!strcmp(cmd, "read") && argc == 3)
		return cmd_read(argv[2]);
	if (!strcmp(cmd, "getuid") && argc == 2) {
		printf("%ld\n", syscall(SYS_getuid));
		return 0;
	}
	if (!strcmp(cmd, "getpriority") && argc == 2) {
		/* The raw syscall: glibc would turn 20 - nice back into nice. */
		long r = syscall(SYS_getpriority, 0 /* PRIO_PROCESS */, 0);

		if (r < 0)
			print_errno(errno);
		else
			printf("%ld\n", r);
		return 0;
	}
	if (!strcmp(cmd, "socket") && argc == 4) {
		int fd = socket(atoi(argv[2]), atoi(argv[3]), 0);

		if (fd < 0)
			print_errno(errno);
		else
			printf("OK\n");
		return 0;
	}
	if (!strcmp(cmd, "alg") && argc == 2)
		return alg_roundtrip("skcipher", "cbc(aes)", 16);
	if (!strcmp(cmd, "alg") && argc == 4)
		return alg_roundtrip("skcipher", argv[2], atoi(argv[3]));
	if (!strcmp(cmd, "aead") && argc == 2)
		return alg_roundtrip("aead", "gcm(aes)", 16);
	if (!strcmp(cmd, "repeat") && argc > 3)
		return repeat(atoi(argv[2]), argv + 3);
	if (!strcmp(cmd, "nocap") && argc > 2) {
		if (drop_cap_sys_admin()) {
			perror("ksw nocap");
			return 1;
		}
		execvp(argv[2], argv + 2);
		perror("ksw nocap: exec");
		return 127;
	}
	if (!strcmp(cmd, "asuser") && argc > 3) {
		uid = (uid_t)atoi(argv[2]);
		if (setgroups(0, NULL) || setgid(uid) || setuid(uid)) {
			perror("ksw asuser");
			return 1;
		}
		execvp(argv[3], argv + 3);
		perror("ksw asuser: exec");
		return 127;
	}
	if (!strcmp(cmd, "userns") && argc > 2) {
		if (enter_userns()) {
			perror("ksw userns");
			return 1;
		}
		execvp(argv[2], argv + 2);
		perror("ksw userns: exec");
		return 127;
	}
	return usage();
}
