#pragma once
// A daemon group's template (docs/template.md): a process the spawner clones for the group,
// which becomes the group's user, starts Python with the group's settings (and with
// preload=On imports the application and freezes it out of the collector's reach), then
// forks every daemon process and standby of the group on the parent's request, so they
// share all of that copy-on-write. Each fork is a clone(CLONE_PARENT): the new process is a
// child of Apache's parent (the template is one too), supervised exactly as before.
//
// Conversation on the control socket (SOCK_SEQPACKET, gantry/spawn_protocol.hpp): the
// template sends REPLY `ready` once; then for each LAUNCH from Apache's parent, it forks
// and answers REPLY `started` with the pid. EOF (the parent's generation ended) ends it.
#include <string>

#include "gantry/daemon_api.hpp"
#include "gantry/python_api.hpp"

namespace gantry::module {

struct TemplateSetup {
  const std::string& group;
  const DaemonRunSpec& spec;  // the group's settings (its Python, its preload scripts)
  const PythonApi& api;
  DaemonMain entry;           // what a forked process runs (gantry_daemon_main)
  int control;                // the template's end of its control socket
  bool preload;               // preload=On
};

// In the template, privileges dropped, Python not started yet. Never returns.
[[noreturn]] void serve_template(const TemplateSetup& setup) noexcept;

}  // namespace gantry::module
