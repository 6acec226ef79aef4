#pragma once
// A daemon group's listening UNIX socket, made by Apache's parent in post_config: named as
// mod_wsgi names it, owned by the user Apache's children run as (socket-user=), mode 0600.
#include <httpd.h>

#include <cstdint>
#include <string>

#include "config.hpp"
#include "daemon_runtime.hpp"

namespace gantry::module {

// PREFIX.PID.GENERATION.ID.sock (PREFIX: WSGISocketPrefix, or the runtime directory's "wsgi").
std::string daemon_socket_path(const GlobalConfig& global, apr_pool_t* ptemp, pid_t parent,
                               std::uint32_t generation, unsigned id);
// Creates, binds, chowns and listens on g.socket_path; sets g.listen_fd. False after logging
// GANTRY0052 (Apache then does not start).
bool open_daemon_socket(server_rec* s, DaemonGroupRuntime& g);
// send-buffer-size= / receive-buffer-size= on either end of a group's connections.
void apply_socket_buffer_sizes(int fd, const DaemonOptions& o, const std::string& group_name);

}  // namespace gantry::module
