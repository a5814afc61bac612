/* SPDX-License-Identifier: ISC */
/*
 * test_shm_vm: shm-vm, the reference KVM VMM, run as a program on the test
 * guests of tests/guests: its command line, its image loader (checked
 * before KVM is opened, so these run on every host), and, where /dev/kvm
 * opens, the guest contract against a real daemon: entry state, console and
 * exit ports, and the one-line reasons for an instruction KVM cannot
 * emulate, a triple fault, a reset through port 0xcf9, a halt nothing can
 * wake, --timeout and a daemon that cannot be reached. Guests that share
 * regions: test_guest_e2e.c; guests that reboot: test_guest_reboot.c.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "testcheck.h"
#include "testutil.h"

/* Set by tests/integration/CMakeLists.txt. */
#ifndef SHM_VM_PATH
#error "SHM_VM_PATH must be defined"
#endif
#ifndef SHM_VM_GUEST_DIR
#error "SHM_VM_GUEST_DIR must be defined"
#endif
#ifndef SHM_VM_DEMO_GUEST_DIR
#error "SHM_VM_DEMO_GUEST_DIR must be defined"
#endif

#define RUN_LIMIT_MS	60000	/* a hung shm-vm fails the test */
#define OUT_MAX		8192
#define RUN_ARGS	24	/* shm-vm's argv, its NULL included */
#define HELLO		SHM_VM_GUEST_DIR "/hello.elf"

struct result {
	int status;		/* exit status, or -1 (signal, killed) */
	char out[OUT_MAX];
	char err[OUT_MAX];
};

static void
append(char *buf, size_t *len, int fd, int *open_)
{
	ssize_t n = read(fd, buf + *len, OUT_MAX - 1 - *len);

	if (n > 0) {
		*len += (size_t)n;
		buf[*len] = '\0';
	} else if (n == 0 || errno != EINTR || *len >= OUT_MAX - 1) {
		*open_ = 0;
	}
}

static void
child(int out, int err, char *const argv[])
{
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	execv(argv[0], argv);
	_exit(127);
}

/* Runs shm-vm with the NULL-terminated arguments args, capturing its
 * stdout and stderr. A run that outlives RUN_LIMIT_MS is killed (status
 * -1). */
static void
run_vm_args(struct result *r, const char *const *args)
{
	char *argv[RUN_ARGS];
	int op[2], ep[2], oopen = 1, eopen = 1, ws;
	size_t olen = 0, elen = 0, n = 0;
	int64_t end = harness_now_ms() + RUN_LIMIT_MS;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	argv[n++] = (char *)SHM_VM_PATH;
	while (n < RUN_ARGS - 1 && *args != NULL)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	assert_int_equal(pipe2(op, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child(op[1], ep[1], argv);
	close(op[1]);
	close(ep[1]);
	while ((oopen || eopen) && harness_now_ms() < end) {
		struct pollfd p[2] = {
			{ .fd = oopen ? op[0] : -1, .events = POLLIN },
			{ .fd = eopen ? ep[0] : -1, .events = POLLIN },
		};

		if (poll(p, 2, 200) <= 0)
			continue;
		if (p[0].revents)
			append(r->out, &olen, op[0], &oopen);
		if (p[1].revents)
			append(r->err, &elen, ep[0], &eopen);
	}
	close(op[0]);
	close(ep[0]);
	if (oopen || eopen)
		kill(pid, SIGKILL);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		continue;
	r->status = (!oopen && !eopen && WIFEXITED(ws)) ?
	    WEXITSTATUS(ws) : -1;
	if (r->status != 0)
		print_message("shm-vm exited %d, stderr: %s", r->status,
		    r->err);
}

/* run_vm_args with the arguments given, then NULL. */
static void
run_vm(struct result *r, ...)
{
	const char *args[RUN_ARGS];
	size_t n = 0;
	va_list ap;

	va_start(ap, r);
	while (n < RUN_ARGS - 1 && (args[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	args[n] = NULL;
	run_vm_args(r, args);
}

static const char *
guest(const char *name)
{
	static const char *const names[] = {
		HELLO, SHM_VM_GUEST_DIR "/hello.bin",
		SHM_VM_GUEST_DIR "/args.elf", SHM_VM_GUEST_DIR "/sse.elf",
		SHM_VM_GUEST_DIR "/fault.elf", SHM_VM_GUEST_DIR "/spin.elf",
		SHM_VM_GUEST_DIR "/halt.elf", SHM_VM_GUEST_DIR "/halt_if.elf",
		SHM_VM_GUEST_DIR "/cf9.elf",
		SHM_VM_GUEST_DIR "/spin_pending.elf",
		SHM_VM_DEMO_GUEST_DIR "/demo_b.elf",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *base = strrchr(names[i], '/') + 1;

		if (strcmp(base, name) == 0)
			return names[i];
	}
	fail_msg("no guest %s", name);
	return NULL;
}

/* Exactly one line on stderr, containing want. */
static void
assert_one_line(const char *err, const char *want)
{
	const char *nl = strchr(err, '\n');

	assert_non_null(strstr(err, want));
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
}

static void
write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* A well-formed ELF64 executable of one PT_LOAD segment at paddr. */
static void
write_elf(const char *path, uint16_t type, uint64_t paddr, uint64_t entry)
{
	struct {
		Elf64_Ehdr eh;
		Elf64_Phdr ph;
		uint8_t code[16];
	} img;

	memset(&img, 0, sizeof(img));
	memcpy(img.eh.e_ident, ELFMAG, SELFMAG);
	img.eh.e_ident[EI_CLASS] = ELFCLASS64;
	img.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	img.eh.e_ident[EI_VERSION] = EV_CURRENT;
	img.eh.e_type = type;
	img.eh.e_machine = EM_X86_64;
	img.eh.e_version = EV_CURRENT;
	img.eh.e_entry = entry;
	img.eh.e_phoff = offsetof(__typeof__(img), ph);
	img.eh.e_ehsize = sizeof(Elf64_Ehdr);
	img.eh.e_phentsize = sizeof(Elf64_Phdr);
	img.eh.e_phnum = 1;
	img.ph.p_type = PT_LOAD;
	img.ph.p_offset = offsetof(__typeof__(img), code);
	img.ph.p_paddr = img.ph.p_vaddr = paddr;
	img.ph.p_filesz = img.ph.p_memsz = sizeof(img.code);
	memset(img.code, 0xf4, sizeof(img.code));
	write_file(path, &img, sizeof(img));
}

static void
test_help(void **state)
{
	struct result r;

	(void)state;
	run_vm(&r, "--help", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "--guest FILE"));
	assert_non_null(strstr(r.out, "--socket PATH"));
	assert_non_null(strstr(r.out, "SHMBROKER_SOCKET"));
	assert_non_null(strstr(r.out, "0xfec00000"));
	assert_non_null(strstr(r.out, "--reboot"));
	assert_non_null(strstr(r.out, "port 0xcf9"));
}

/* Command lines refused with status 2 and the line that says why. */
static const struct {
	const char *args[8];
	const char *why;
} usage_errors[] = {
	{ { NULL }, "--guest FILE is required" },
	{ { "--guest", HELLO, "--mem", "1K" }, "bad --mem '1K'" },
	{ { "--guest", HELLO, "--vector", "7" }, "bad --vector '7'" },
	{ { "--guest", HELLO, "--factory", "0x1000001" }, "bad --factory" },
	{ { "--guest", HELLO, "--factory", "0x1000000" },
	    "lies inside guest RAM" },
	/* the in-kernel IOAPIC's page, and no room left for a region */
	{ { "--guest", HELLO, "--factory", "0xfec00000" },
	    "no room for regions" },
	{ { "--guest", HELLO, "--mem", "3G", "--factory", "0xfeb00000" },
	    "no room for regions" },
	{ { "--guest", HELLO, "--timeout", "0" }, "bad --timeout '0'" },
	{ { "--guest", HELLO, "--arg", "-1" }, "bad --arg '-1'" },
	{ { "--guest", HELLO, "--arg", "0x10000000000000000" }, "bad --arg" },
	{ { "--guest", HELLO, "--max-reboots", "-1" },
	    "bad --max-reboots '-1'" },
	/* the largest number is how "no limit" is kept */
	{ { "--guest", HELLO, "--max-reboots", "18446744073709551615" },
	    "bad --max-reboots" },
	{ { "--guest", HELLO, "stray" }, "unexpected argument 'stray'" },
};

static void
test_usage_errors(void **state)
{
	struct result r;

	(void)state;
	for (size_t i = 0; i < sizeof(usage_errors) / sizeof(usage_errors[0]);
	    i++) {
		run_vm_args(&r, usage_errors[i].args);
		assert_int_equal(r.status, 2);
		if (strstr(r.err, usage_errors[i].why) == NULL)
			fail_msg("usage error %zu: \"%s\" lacks \"%s\"", i,
			    r.err, usage_errors[i].why);
	}
}

/* Images that must be refused before KVM is opened, on every host. */
static void
test_bad_images(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct result r;
	uint8_t *big;

	run_vm(&r, "--guest", "/nonexistent/guest.elf", NULL);
	assert_int_equal(r.status, 1);
	assert_one_line(r.err, "cannot open guest /nonexistent/guest.elf");

	snprintf(path, sizeof(path), "%s/low.elf", f->dir);
	write_elf(path, ET_EXEC, 0x1000, 0x1000);
	run_vm(&r, "--guest", path, NULL);
	assert_int_equal(r.status, 1);
	assert_one_line(r.err, "outside guest RAM");

	snprintf(path, sizeof(path), "%s/high.elf", f->dir);
	write_elf(path, ET_EXEC, 0x1ffff8, 0x1ffff8);
	run_vm(&r, "--guest", path, "--mem", "2M", NULL);
	assert_int_equal(r.status, 1);
	assert_one_line(r.err, "outside guest RAM");

	snprintf(path, sizeof(path), "%s/entry.elf", f->dir);
	write_elf(path, ET_EXEC, 0x100000, 0x80000);
	run_vm(&r, "--guest", path, NULL);
	assert_int_equal(r.status, 1);
	assert_one_line(r.err, "entry point 0x80000");

	snprintf(path, sizeof(path), "%s/dyn.elf", f->dir);
	write_elf(path, ET_DYN, 0x100000, 0x100000);
	run_vm(&r, "--guest", path, NULL);
	assert_int_equal(r.status, 1);
	assert_one_line(r.err, "not a static executable");

	snprintf(path, sizeof(path), "%s/trunc.elf", f->dir);
	write_file(path, ELFMAG "\2\1\1", 7);
	run_vm(&r, "--guest", path, NULL);
	assert_int_equal(r.status, 1);
	assert_one_line(r.err, "truncated");

	snprintf(path, sizeof(path), "%s/empty.bin", f->dir);
	write_file(path, "", 0);
	run_vm(&r, "--guest", path, NULL);
	assert_int_equal(r.status, 1);
	assert_one_line(r.err, "is empty");

	/* 1.5 MiB flat: fits in 2 MiB of RAM, not above 0x100000 */
	big = calloc(1, 3 << 19);
	assert_non_null(big);
	snprintf(path, sizeof(path), "%s/big.bin", f->dir);
	write_file(path, big, 3 << 19);
	free(big);
	run_vm(&r, "--guest", path, "--mem", "2M", NULL);
	assert_int_equal(r.status, 1);
	assert_one_line(r.err, "does not fit");
}

/* On a host without KVM a good image gets as far as /dev/kvm and says so. */
static void
test_no_kvm(void **state)
{
	struct result r;

	(void)state;
	if (harness_kvm_opens()) {
		print_message("skipped: /dev/kvm opens on this host\n");
		skip();
	}
	run_vm(&r, "--guest", guest("hello.elf"), NULL);
	assert_int_equal(r.status, 1);
	assert_one_line(r.err, "cannot open /dev/kvm");
	assert_string_equal(r.out, "");
}

static void
test_hello_elf(void **state)
{
	struct result r;

	(void)state;
	check_need_kvm();
	run_vm(&r, "--guest", guest("hello.elf"), "--timeout", "30", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "hello from the guest\n");
	assert_string_equal(r.err, "");
}

static void
test_hello_flat(void **state)
{
	struct result r;

	(void)state;
	check_need_kvm();
	run_vm(&r, "--guest", guest("hello.bin"), "--timeout", "30", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "hello from the guest\n");
	assert_string_equal(r.err, "");
}

/*
 * A daemon that stops answering in the middle of a guest's find: the call
 * gives up after libshmclient's timeout and --timeout still ends the
 * guest. The vCPU's tick once restarted that timeout forever.
 */
/* Stops the daemon once shm-vm has connected (the daemon holds one fd
 * more than base) and its guest is asking. */
static pid_t
stop_daemon_later(pid_t daemon, int base)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (harness_wait_fd_count(daemon, base + 1, 30000) > base)
		harness_sleep_ms(500);
	kill(daemon, SIGSTOP);
	_exit(0);
}

static void
test_daemon_hangs(void **state)
{
	struct test_daemon d;
	struct result r;
	char sock[sizeof(d.socket) + 16];
	pid_t stopper;

	(void)state;
	check_need_kvm();
	memset(&d, 0, sizeof(d));
	assert_int_equal(harness_start_daemon(&d, NULL), 0);
	snprintf(sock, sizeof(sock), "%s", d.socket);
	stopper = stop_daemon_later(d.pid, harness_settled_fd_count(d.pid));
	assert_true(stopper > 0);
	/* demo_b finds "demo" until it exists: a find meets the stop */
	run_vm(&r, "--socket", sock, "--guest", guest("demo_b.elf"),
	    "--timeout", "2", NULL);
	waitpid(stopper, NULL, 0);
	kill(d.pid, SIGCONT);
	harness_stop_daemon(&d);
	assert_int_equal(r.status, 124);
	assert_non_null(strstr(r.err, "shmbrokerd did not answer"));
	assert_non_null(strstr(r.err, "timeout: the guest was still running"));
}

/* A VMM whose vdev cannot start must not run the guest without it. */
static void
test_no_daemon(void **state)
{
	struct result r;

	(void)state;
	check_need_kvm();
	run_vm(&r, "--socket", "/nonexistent/shmbrokerd.sock", "--guest",
	    guest("hello.elf"), "--timeout", "30", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_one_line(r.err, "/nonexistent/shmbrokerd.sock");
}

static void
test_entry_state(void **state)
{
	struct result r;

	(void)state;
	check_need_kvm();
	run_vm(&r, "--guest", guest("args.elf"), "--timeout", "30", NULL);
	assert_int_equal(r.status, 42);
	assert_string_equal(r.out, "factory=0x10000000 vector=0x40 arg=0x0 "
	    "stack=ok\nsse move ok....\nmmio read 0\n");
	run_vm(&r, "--guest", guest("args.elf"), "--mem", "4M", "--factory",
	    "0x20000000", "--vector", "0x51", "--arg", "0xfedcba9876543210",
	    "--timeout", "30", NULL);
	assert_int_equal(r.status, 42);
	assert_string_equal(r.out, "factory=0x20000000 vector=0x51 "
	    "arg=0xfedcba9876543210 stack=ok\nsse move ok....\n"
	    "mmio read 0\n");
}

/* kvm_pvm cannot emulate SSE arithmetic at CPL0 (docs/DESIGN.md, "What
 * the host changes"); hardware virtualisation runs it. Either way the outcome is exact. */
static void
test_sse_arithmetic(void **state)
{
	struct result r;
	const char *rip;

	(void)state;
	check_need_kvm();
	run_vm(&r, "--guest", guest("sse.elf"), "--timeout", "30", NULL);
	if (r.status == 3) {
		assert_string_equal(r.out, "before sse\nsse arithmetic ran\n");
		return;
	}
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "before sse\n");
	assert_one_line(r.err, "KVM_EXIT_INTERNAL_ERROR");
	assert_non_null(strstr(r.err, "instruction bytes: 66 0f ef c0"));
	rip = strstr(r.err, "RIP 0x");
	assert_non_null(rip);
	assert_true(strtoull(rip + 4, NULL, 16) >= 0x100000);
	assert_true(strtoull(rip + 4, NULL, 16) < 0x101000);
}

static void
test_triple_fault(void **state)
{
	struct result r;

	(void)state;
	check_need_kvm();
	run_vm(&r, "--guest", guest("fault.elf"), "--timeout", "30", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "before ud2\n");
	assert_one_line(r.err, "triple-faulted (KVM_EXIT_SHUTDOWN");
	assert_non_null(strstr(r.err, "; without --reboot that ends it\n"));
}

/*
 * Port 0xcf9 as a PC's reset control register: a byte with bit 2 set is
 * a reset, which without --reboot ends shm-vm; a byte without it, and any
 * wider access, is not the register and the guest runs on. --max-reboots
 * 0 reboots never, and says so.
 */
static void
test_reset_port(void **state)
{
	static const char *const resets[] = { "0x06", "0x0e", "0x04" };
	static const char *const ignored[] = { "0x02", "0x0a", "0x206",
	    "0x406" };
	struct result r;
	char want[128];

	(void)state;
	check_need_kvm();
	for (size_t i = 0; i < sizeof(resets) / sizeof(resets[0]); i++) {
		run_vm(&r, "--guest", guest("cf9.elf"), "--arg", resets[i],
		    "--timeout", "30", NULL);
		assert_int_equal(r.status, 1);
		assert_string_equal(r.out, "before\n");
		snprintf(want, sizeof(want), "the guest asked for a reset "
		    "(0x%02lx to port 0xcf9); without --reboot that ends it",
		    strtoul(resets[i], NULL, 16));
		assert_one_line(r.err, want);
	}
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		run_vm(&r, "--guest", guest("cf9.elf"), "--arg", ignored[i],
		    "--timeout", "30", NULL);
		assert_int_equal(r.status, 0);
		assert_string_equal(r.out, "before\nafter\n");
		assert_string_equal(r.err, "");
	}
	run_vm(&r, "--guest", guest("cf9.elf"), "--arg", "0x06",
	    "--max-reboots", "0", "--timeout", "30", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "before\n");
	assert_one_line(r.err, "that would be reboot 1, past --max-reboots 0");
}

static void
test_timeout(void **state)
{
	struct result r;

	(void)state;
	check_need_kvm();
	run_vm(&r, "--guest", guest("spin.elf"), "--timeout", "1", NULL);
	assert_int_equal(r.status, 124);
	assert_string_equal(r.out, "spinning\n");
	assert_one_line(r.err, "timeout");
	assert_one_line(r.err, ", running at RIP 0x");
	assert_one_line(r.err, " not pending, not in service\n");
	/* an interrupt the guest cannot take (IF=0) shows as pending */
	run_vm(&r, "--guest", guest("spin_pending.elf"), "--timeout", "1",
	    NULL);
	assert_int_equal(r.status, 124);
	assert_string_equal(r.out, "spinning\n");
	assert_one_line(r.err, ", running at RIP 0x");
	assert_one_line(r.err, " with interrupts off; vector ");
	assert_one_line(r.err, " is pending, not in service\n");
}

static void
test_halt(void **state)
{
	struct result r;

	(void)state;
	check_need_kvm();
	run_vm(&r, "--guest", guest("halt.elf"), "--timeout", "30", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "halting\n");
	assert_one_line(r.err, "halted with interrupts disabled");
	/* IF=1: waits for an interrupt, and no region will send one */
	run_vm(&r, "--guest", guest("halt_if.elf"), "--timeout", "1", NULL);
	assert_int_equal(r.status, 124);
	assert_string_equal(r.out, "halting\n");
	assert_one_line(r.err, "timeout");
	/* what tells a lost interrupt from one never sent, or not taken */
	assert_one_line(r.err, ", halted at RIP 0x");
	assert_one_line(r.err, " with interrupts on; vector ");
	assert_one_line(r.err, " not pending, not in service\n");
}

/* Guests run against a real daemon: shm-vm connects at start. Its socket
 * reaches shm-vm through SHMBROKER_SOCKET, like any libshmclient user.
 * The fixture's directory holds the images test_bad_images writes. */
static int
group_setup(void **state)
{
	struct fixture *f = fixture_new(state, sizeof(*f));

	if (f == NULL)
		return -1;
	if (!harness_kvm_opens())
		return 0;
	if (fixture_start(f, NULL, NULL) < 0 ||
	    setenv("SHMBROKER_SOCKET", f->d.socket, 1) < 0)
		return fixture_failed(state);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_bad_images),
		cmocka_unit_test(test_no_kvm),
		cmocka_unit_test(test_hello_elf),
		cmocka_unit_test(test_hello_flat),
		cmocka_unit_test(test_no_daemon),
		cmocka_unit_test(test_daemon_hangs),
		cmocka_unit_test(test_entry_state),
		cmocka_unit_test(test_sse_arithmetic),
		cmocka_unit_test(test_triple_fault),
		cmocka_unit_test(test_reset_port),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_halt),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, fixture_teardown);
}
