#pragma once
// Gives back the pages that only the dynamic loader needed.
#include <cstddef>

namespace gantry::daemon {

// A daemon process loads libpython, its dependencies and mod_gantry_python.so itself (so that
// Apache's parent and children never map Python). Loading reads each object's symbol and
// relocation tables - for libpython about 1 MiB - which stay in the process's resident set
// although nothing reads them again once every symbol is bound. mod_wsgi's daemons do not
// carry them because its parent loaded libpython before forking them (fork does not copy
// page-table entries of clean file mappings). This drops those pages from this process's
// page tables: the read-only, never-written first segment of every loaded object (ELF
// headers, .dynsym, .dynstr, .gnu.hash, .rela.*). They stay in the page cache, and a later
// dlopen()/dlsym() that needs them faults them back in. Returns the bytes advised.
std::size_t release_loader_pages() noexcept;

}  // namespace gantry::daemon
