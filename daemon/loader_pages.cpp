#include "loader_pages.hpp"

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace gantry::daemon {
namespace {

// True when [start, end) overlaps a PT_GNU_RELRO range: those pages were written by the
// loader (relocations) before being made read-only, and dropping them would lose the writes.
bool overlaps_relro(const dl_phdr_info* info, std::uintptr_t start, std::uintptr_t end) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_GNU_RELRO) continue;
    const std::uintptr_t relro = info->dlpi_addr + ph.p_vaddr;
    if (relro < end && start < relro + ph.p_memsz) return true;
  }
  return false;
}

int release_one(dl_phdr_info* info, std::size_t, void* total) {
  const std::uintptr_t page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    // Only the segment that starts the file, read-only and file-backed: the headers and the
    // loader's tables. Text, rodata, .eh_frame and data live in later segments.
    if (ph.p_type != PT_LOAD || ph.p_offset != 0 || ph.p_flags != PF_R || ph.p_filesz == 0) continue;
    const std::uintptr_t start = (info->dlpi_addr + ph.p_vaddr) & ~(page - 1);
    // Whole pages of file content only: a tail shared with the next segment is left alone.
    const std::uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_filesz) & ~(page - 1);
    if (end <= start || overlaps_relro(info, start, end)) continue;
    if (madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED) == 0)
      *static_cast<std::size_t*>(total) += end - start;
  }
  return 0;
}

}  // namespace

std::size_t release_loader_pages() noexcept {
  std::size_t total = 0;
  dl_iterate_phdr(&release_one, &total);
  return total;
}

}  // namespace gantry::daemon
