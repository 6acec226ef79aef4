// mod_gantry_python.so's only exported symbol: the table mod_gantry.so and the daemon
// side call (include/gantry/python_api.hpp). Every entry point is noexcept.
#include "gantry/python_api.hpp"

#include "wsgi/adapter.hpp"
#include "wsgi/dispatch_script.hpp"
#include "wsgi/auth_scripts.hpp"
#include "wsgi/interpreters.hpp"
#include "wsgi/request_interrupt.hpp"
#include "wsgi/script_loader.hpp"

namespace {

bool api_initialize(const gantry::PythonSettings& settings) { return gantry::wsgi::initialize_python(settings); }
bool api_import_script(const gantry::ScriptTarget& target) { return gantry::wsgi::import_script(target); }
gantry::Outcome api_run_request(const gantry::ScriptTarget& target, gantry::RequestChannel& channel) {
  return gantry::wsgi::run_request(target, channel);
}
void api_after_fork_child() { gantry::wsgi::after_fork_child_python(); }
void api_shutdown() { gantry::wsgi::shutdown_python(); }
bool api_interrupt_thread(unsigned long thread_id, std::string* stack) {
  return gantry::wsgi::interrupt_thread(thread_id, stack);
}

void api_shutdown_for(std::string_view reason) { gantry::wsgi::shutdown_python_for(reason); }

void api_observe_script_loads(gantry::PythonApi::ScriptLoadObserver observer, void* context) {
  gantry::wsgi::set_script_load_observer(observer, context);
}

gantry::AuthReply api_run_auth_script(const gantry::AuthQuery& query, std::span<const gantry::EnvEntry> environ,
                                      gantry::Logger& log) {
  return gantry::wsgi::run_auth_script(query, environ, log);
}

int api_fork_process(int (*clone)(void*), void* context) {
  return gantry::wsgi::fork_python_process(reinterpret_cast<pid_t (*)(void*)>(clone), context);
}
std::size_t api_freeze_heap() { return gantry::wsgi::freeze_python_heap(); }
void api_process_started(long template_pid, bool preloaded) {
  gantry::wsgi::process_started_python(template_pid, preloaded);
}

constexpr gantry::PythonApi kApi = {
    gantry::kPythonAbi, api_initialize, api_import_script, api_run_request, api_after_fork_child, api_shutdown,
    api_interrupt_thread, api_observe_script_loads, api_shutdown_for, api_run_auth_script,
    gantry::wsgi::run_dispatch, api_fork_process, api_freeze_heap, api_process_started,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const gantry::PythonApi* gantry_python_api() { return &kApi; }
