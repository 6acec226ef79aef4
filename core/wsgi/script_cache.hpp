#pragma once
// Loaded WSGI script modules of one interpreter, by script path.
#include <ctime>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gantry/py/ref.hpp"

namespace gantry::wsgi {

struct LoadedScript {
  py::Ref module;
  timespec mtime{};  // of the file when it was loaded (for WSGIScriptReloading)
  py::Ref stamp;     // the module's __mtime__ as set at load; a module without it is reloaded
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

using ScriptCache = std::unordered_map<std::string, LoadedScript, StringHash, std::equal_to<>>;

}  // namespace gantry::wsgi
