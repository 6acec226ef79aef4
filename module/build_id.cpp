#include "build_id.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include <cstring>

#include "gantry_hooks.h"

namespace gantry::module {
namespace {

struct Search {
  ElfW(Addr) base = 0;
  std::string id;
};

int visit(dl_phdr_info* info, std::size_t, void* data) {
  auto* search = static_cast<Search*>(data);
  if (info->dlpi_addr != search->base) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* at = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = at + ph.p_memsz;
    while (at + sizeof(ElfW(Nhdr)) <= end) {
      const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(at);
      const char* name = at + sizeof(ElfW(Nhdr));
      const char* desc = name + ((note->n_namesz + 3) & ~3u);
      const char* next = desc + ((note->n_descsz + 3) & ~3u);
      if (next > end) break;
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
        static const char hex[] = "0123456789abcdef";
        for (unsigned j = 0; j < note->n_descsz; ++j) {
          const auto byte = static_cast<unsigned char>(desc[j]);
          search->id += hex[byte >> 4];
          search->id += hex[byte & 15];
        }
        return 1;
      }
      at = next;
    }
  }
  return 1;  // our object, without a build id
}

}  // namespace

std::string this_build_id() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&wsgi_module), &info) || !info.dli_fbase) return "";
  Search search;
  search.base = reinterpret_cast<ElfW(Addr)>(info.dli_fbase);
  dl_iterate_phdr(visit, &search);
  return search.id;
}

}  // namespace gantry::module
