#pragma once
// Apache's parent's side of a daemon group's template (docs/template.md; the template's
// own loop is template_process.hpp). One per group and generation: launched through the
// spawner with its end of a control socket, it starts Python for the group and then forks
// the group's daemon processes and standbys on request, as children of Apache's parent.
// When it is not there (starting, died, replaced), processes start through the spawner
// as before, so a group never waits for its template.
#include <httpd.h>
#include <apr_thread_proc.h>

#include <string>

#include "daemon_spawner.hpp"
#include "daemon_table.hpp"
#include "gantry/scoped_fd.hpp"
#include "gantry/spawn_protocol.hpp"

namespace gantry::module {

class GroupTemplate {
 public:
  GroupTemplate() = default;
  ~GroupTemplate();  // wipes the secret of the launch it kept
  GroupTemplate(const GroupTemplate&) = delete;
  GroupTemplate& operator=(const GroupTemplate&) = delete;

  // Launches the template through the spawner (non-blocking: it reports ready later).
  // False, logged, if it could not be launched.
  // `preload`: preload=On (the template imports the group's scripts; its log lines say so).
  bool start(server_rec* s, apr_pool_t* pconf, const spawn::LaunchRequest& launch, LaunchDescriptors fds,
             bool preload);
  // Blocks until `deadline` (apr_time_now() scale) for its ready message (start-up: the
  // first processes should be forked from it; every group shares one deadline, as their
  // templates start in parallel). True when ready.
  bool wait_ready(apr_time_t deadline);
  // Running and ready; checks for the ready message without blocking.
  bool usable();
  // Forks one process of the group: its pid, or 0 with `error` (the template is then
  // stopped; the caller starts the process through the spawner instead).
  pid_t launch(spawn::LaunchRequest& request, const LaunchDescriptors& fds, std::string& error);
  // Ends it (closes its socket, SIGTERM, reaps it within about a second).
  void stop();
  // In an Apache child: close the parent's end of the control socket.
  void close_in_child();
  // Parent's monitor: starts a new template once the back-off after a death has passed,
  // notices a template that became ready meanwhile (so GANTRY0660 is not late), and stops
  // one that is still not ready when its time is up (GANTRY0670), so that a template stuck
  // at import is retried rather than kept forever.
  void monitor(apr_time_t now);
  // Replaced at once (a WSGI script changed under preload=On): a new one is launched.
  void replace();

  // Where its pid, state and memory are shown (the status table's record for the group).
  void show_in(TemplateRecord* record) { record_ = record; }

  pid_t pid() const { return pid_; }
  const std::string& group() const { return group_; }

  // other-child callback (public for the C callback).
  void on_event(int reason, int status);

 private:
  server_rec* s_ = nullptr;
  apr_pool_t* pconf_ = nullptr;
  std::string group_;
  pid_t pid_ = 0;
  ScopedFd fd_;          // the parent's end of the control socket
  bool ready_ = false;
  bool preload_ = false;
  bool registered_ = false;
  apr_time_t started_ = 0;
  apr_time_t ready_at_ = 0;
  apr_time_t restart_at_ = 0;  // 0: no restart pending
  TemplateRecord* record_ = nullptr;
  apr_time_t sampled_at_ = 0;
  unsigned quick_deaths_ = 0;
  unsigned stuck_ = 0;  // templates in a row stopped for not getting ready (doubles the time)
  apr_proc_t proc_{};
  // What start() was given, for the replacements (the generation's, so always current).
  spawn::LaunchRequest launch_;
  LaunchDescriptors fds_;
  bool start_process(bool again);
  bool take_ready(int timeout_ms);
  apr_interval_time_t ready_limit() const;
  void stop_if_stuck(apr_time_t now);
  void forget();
  // Shows it in the status table; `sample`: reads its memory first (returned).
  MemoryRollup publish(bool sample);
};

}  // namespace gantry::module
