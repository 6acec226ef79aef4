// See python_config.hpp.
#include "wsgi/python_config.hpp"

#include <cstdio>
#include <string>

#include "gantry/py/error.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/interpreters.hpp"
#include "wsgi/log_ids.hpp"
#include "wsgi/log_target.hpp"

namespace gantry::wsgi {
namespace {

PyStatus append_warn_option(PyConfig& config, const std::string& option) {
  // Pre-initialised in UTF-8 mode, so this decodes UTF-8 whatever the locale is.
  wchar_t* wide = Py_DecodeLocale(option.c_str(), nullptr);
  if (!wide) return PyStatus_NoMemory();
  PyStatus status = PyWideStringList_Append(&config.warnoptions, wide);
  PyMem_RawFree(wide);
  return status;
}

}  // namespace

PyStatus apply_start_settings(PyConfig& config, const PythonSettings& settings) {
  if (settings.hash_seed >= 0) {  // "random" (the default) leaves Python's own choice
    config.use_hash_seed = 1;
    config.hash_seed = static_cast<unsigned long>(settings.hash_seed);
  }
  if (settings.dont_write_bytecode) config.write_bytecode = 0;
  for (const std::string& option : settings.warn_options) {
    PyStatus status = append_warn_option(config, option);
    if (PyStatus_Exception(status)) return status;
  }
  return PyStatus_Ok();
}

bool apply_runtime_settings(const PythonSettings& settings) {
  if (settings.switch_interval <= 0) return true;
  const char* directive = settings.process_group.empty() ? "WSGISwitchInterval" : "switch-interval=";
  py::Ref sys = py::Ref::steal(PyImport_ImportModule("sys"));
  py::Ref done = sys ? py::Ref::steal(PyObject_CallMethod(sys.get(), "setswitchinterval", "d",
                                                          settings.switch_interval))
                     : py::Ref();
  char value[32];
  std::snprintf(value, sizeof value, "%g", settings.switch_interval);
  if (!done) {
    py::FetchedError error = py::fetch_error();
    log_exception(process_log(), Level::error, ids::kSwitchIntervalFailed,
                  std::string("Failed to set the Python switch interval to ") + value + " s (" +
                      directive + ")",
                  error);
    return false;
  }
  process_log().log(Level::info, ids::kSwitchIntervalSet,
                    std::string("Python switch interval set to ") + value + " s (" + directive + ")");
  return true;
}

}  // namespace gantry::wsgi
