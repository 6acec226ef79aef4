#include "python_loader.hpp"

#include <http_log.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include "apache_log.hpp"
#include "gantry/scoped_fd.hpp"
#include "gantry_hooks.h"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {

PythonRuntime& python_runtime() {
  // Per process by design (see header). A graceful restart keeps the parent's copy, which
  // is right: its Python, if any, is still there.
  static PythonRuntime runtime;
  return runtime;
}

namespace {
std::string path_override;  // adopt_python_object(): the parent's path for this daemon
}  // namespace

std::string python_object_path() {
  if (!path_override.empty()) return path_override;
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&wsgi_module), &info) || !info.dli_fname) return kPythonObjectName;
  std::string self(info.dli_fname);
  const auto slash = self.rfind('/');
  return (slash == std::string::npos ? std::string() : self.substr(0, slash + 1)) + kPythonObjectName;
}

namespace {
// See hold_python_object(); inherited by every forked process. Closed when replaced, by
// drop_python_object(), and when Apache unloads this module at a restart (the next
// configuration pass opens it again).
ScopedFd held_fd;
}  // namespace

void hold_python_object() {
  held_fd.reset(open(python_object_path().c_str(), O_RDONLY | O_CLOEXEC));  // -1: the path is reported later
}

int held_python_object_fd() { return held_fd.get(); }

void adopt_python_object(const std::string& path, int fd) {
  path_override = path;
  held_fd.reset(fd);
}

void drop_python_object() { held_fd.reset(); }

void* open_python_object(std::string& error) {
  const std::string path = python_object_path();
  if (void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) return handle;
  const char* why = dlerror();
  error = path + ": " + (why ? why : "unknown error");
  if (!held_fd) return nullptr;
  // /proc/self/fd/N re-opens the file the parent opened as root: only the file's own mode
  // is checked, not the directories on its path.
  const std::string via_fd = "/proc/self/fd/" + std::to_string(held_fd.get());
  if (void* handle = dlopen(via_fd.c_str(), RTLD_NOW | RTLD_GLOBAL)) return handle;
  why = dlerror();
  error += std::string("; through the descriptor opened at start-up: ") + (why ? why : "unknown error");
  return nullptr;
}

namespace {

// Once Python runs here, this object must stay mapped too: Python holds our Logger (code
// and vtable in this object) for the life of the process, but Apache unloads and reloads
// modules on every restart. Pinning the already-loaded object keeps it at one address.
void pin_this_object() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&wsgi_module), &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

const PythonApi* load_api(server_rec* s, PythonRuntime& rt) {
  const std::string path = python_object_path();
  std::string why;
  void* handle = open_python_object(why);
  if (!handle) {
    rt.error = "cannot load " + why;
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                 "GANTRY0010: cannot load the Python side %s - install it next to"
                 " mod_gantry.so (same build) and check that libpython can be found",
                 why.c_str());
    return nullptr;
  }
  using Entry = const PythonApi* (*)();
  auto entry = reinterpret_cast<Entry>(dlsym(handle, kPythonEntrySymbol));
  const PythonApi* api = entry ? entry() : nullptr;
  if (!api) {
    rt.error = path + " has no " + kPythonEntrySymbol;
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                 "GANTRY0011: %s does not export %s() or it returned nothing - it is not a"
                 " Gantry Python object; reinstall mod_gantry_python.so from the same build",
                 path.c_str(), kPythonEntrySymbol);
    return nullptr;
  }
  if (api->abi != kPythonAbi) {
    rt.error = path + " has the wrong ABI version";
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                 "GANTRY0012: %s speaks ABI %u but mod_gantry.so expects %u - the two objects"
                 " come from different builds; install both from the same build",
                 path.c_str(), static_cast<unsigned>(api->abi), static_cast<unsigned>(kPythonAbi));
    return nullptr;
  }
  return api;  // never dlclose()d: Python cannot be unloaded
}

}  // namespace

bool start_python(server_rec* s, const PythonSettings& settings) {
  PythonRuntime& rt = python_runtime();
  if (rt.initialized) return true;
  if (rt.failed) return false;
  if (!rt.api) rt.api = load_api(s, rt);
  if (!rt.api) {
    rt.failed = true;
    return false;
  }
  pin_this_object();
  if (!rt.api->initialize(settings)) {
    rt.failed = true;
    rt.error = "Python failed to initialise (see the GANTRY01xx lines above)";
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                 "GANTRY0013: Python could not be initialised in process %ld (python home '%s');"
                 " WSGI requests here will get 500 - see the preceding lines for the cause",
                 static_cast<long>(getpid()), settings.python_home.c_str());
    return false;
  }
  rt.initialized = true;
  return true;
}

}  // namespace gantry::module
