/* SPDX-License-Identifier: ISC */
/*
 * vm_load: puts a guest image into guest RAM. An ELF64 x86-64 executable is
 * loaded by its PT_LOAD segments at their physical addresses and entered at
 * e_entry; anything else is a flat binary, loaded and entered at
 * VM_IMAGE_BASE. Every image must fit between VM_IMAGE_BASE and the end of
 * RAM: what lies below belongs to shm-vm. The file is read once: a reboot
 * loads the bytes checked at start, whatever became of the file since.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm.h"

static int
read_file(const char *path, uint64_t max, uint8_t **bufp, size_t *lenp)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "shm-vm: cannot open guest %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "shm-vm: guest %s is not a regular file\n",
		    path);
		close(fd);
		return -1;
	}
	if (st.st_size == 0 || (uint64_t)st.st_size > max) {
		if (st.st_size == 0)
			fprintf(stderr, "shm-vm: guest %s is empty\n", path);
		else
			fprintf(stderr, "shm-vm: guest %s (%lld bytes) is "
			    "larger than guest RAM; raise --mem\n", path,
			    (long long)st.st_size);
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size)) == NULL) {
		fprintf(stderr, "shm-vm: out of memory reading %s\n", path);
		close(fd);
		return -1;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			fprintf(stderr, "shm-vm: cannot read guest %s: %s\n",
			    path, n < 0 ? strerror(errno) : "file shrank");
			free(buf);
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	close(fd);
	*bufp = buf;
	*lenp = done;
	return 0;
}

/* [addr, addr+len) inside guest RAM and not below VM_IMAGE_BASE. */
static int
fits(const struct vm *vm, uint64_t addr, uint64_t len)
{
	return addr >= VM_IMAGE_BASE && len <= vm->mem_size &&
	    addr <= vm->mem_size - len;
}

static int
check_ehdr(const char *path, const Elf64_Ehdr *eh, size_t len)
{
	const char *why = NULL;

	if (len < sizeof(*eh))
		why = "is truncated (no complete ELF header)";
	else if (eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB)
		why = "is not a little-endian ELF64 file";
	else if (eh->e_machine != EM_X86_64)
		why = "is not an x86-64 executable";
	else if (eh->e_type != ET_EXEC)
		why = "is not a static executable (ET_EXEC); link it with "
		    "-static -no-pie";
	else if (eh->e_phnum == 0 || eh->e_phentsize != sizeof(Elf64_Phdr))
		why = "has no usable program headers";
	else if (eh->e_phoff > len ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff)
		why = "is truncated (program headers past the end)";
	if (why == NULL)
		return 0;
	fprintf(stderr, "shm-vm: guest %s %s\n", path, why);
	return -1;
}

static int
load_segment(struct vm *vm, const char *path, const uint8_t *buf, size_t len,
    const Elf64_Phdr *ph)
{
	if (ph->p_filesz > ph->p_memsz || ph->p_offset > len ||
	    ph->p_filesz > len - ph->p_offset) {
		fprintf(stderr, "shm-vm: guest %s: segment at 0x%" PRIx64
		    " is truncated or malformed\n", path, ph->p_paddr);
		return -1;
	}
	if (!fits(vm, ph->p_paddr, ph->p_memsz)) {
		fprintf(stderr, "shm-vm: guest %s: segment 0x%" PRIx64
		    "+0x%" PRIx64 " is outside guest RAM 0x%llx..0x%" PRIx64
		    "; link it at or above 0x%llx or raise --mem\n", path,
		    ph->p_paddr, ph->p_memsz, VM_IMAGE_BASE, vm->mem_size,
		    VM_IMAGE_BASE);
		return -1;
	}
	memcpy(vm->mem + ph->p_paddr, buf + ph->p_offset, ph->p_filesz);
	/* RAM starts zeroed, but say what .bss needs rather than rely on it. */
	memset(vm->mem + ph->p_paddr + ph->p_filesz, 0,
	    ph->p_memsz - ph->p_filesz);
	return 0;
}

static int
load_elf(struct vm *vm, const char *path, const uint8_t *buf, size_t len)
{
	Elf64_Ehdr eh;
	int nload = 0;

	memset(&eh, 0, sizeof(eh));
	memcpy(&eh, buf, len < sizeof(eh) ? len : sizeof(eh));
	if (check_ehdr(path, &eh, len) < 0)
		return -1;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (load_segment(vm, path, buf, len, &ph) < 0)
			return -1;
		nload++;
	}
	if (nload == 0) {
		fprintf(stderr, "shm-vm: guest %s has no PT_LOAD segment\n",
		    path);
		return -1;
	}
	if (!fits(vm, eh.e_entry, 1)) {
		fprintf(stderr, "shm-vm: guest %s: entry point 0x%" PRIx64
		    " is outside guest RAM above 0x%llx\n", path, eh.e_entry,
		    VM_IMAGE_BASE);
		return -1;
	}
	vm->entry = eh.e_entry;
	return 0;
}

/* The kept image into RAM; the checks are the same every time, so only
 * the first load can fail them. */
int
vm_reload_image(struct vm *vm)
{
	const char *path = vm->image_path;

	if (vm->image_len >= SELFMAG &&
	    memcmp(vm->image, ELFMAG, SELFMAG) == 0)
		return load_elf(vm, path, vm->image, vm->image_len);
	if (!fits(vm, VM_IMAGE_BASE, vm->image_len)) {
		fprintf(stderr, "shm-vm: flat guest %s (%zu bytes) does not "
		    "fit in guest RAM above 0x%llx; raise --mem\n", path,
		    vm->image_len, VM_IMAGE_BASE);
		return -1;
	}
	memcpy(vm->mem + VM_IMAGE_BASE, vm->image, vm->image_len);
	vm->entry = VM_IMAGE_BASE;
	return 0;
}

int
vm_load_image(struct vm *vm, const char *path)
{
	if (read_file(path, vm->mem_size, &vm->image, &vm->image_len) < 0)
		return -1;
	vm->image_path = path;
	return vm_reload_image(vm);
}
