#pragma once
// What `ps` shows for a process Gantry starts: the argv area (/proc/PID/cmdline, `ps -o
// args`) and the thread name (`ps -e`, top; 15 characters). The first change keeps a copy
// of Apache's own command line, so that a process can give it back: the spawner renames
// itself, and a daemon without display-name - cloned from the spawner - shows Apache's
// command line again, as it would have had it been forked by Apache's parent.
#include <string>

namespace gantry::module {

void set_process_title(const std::string& title);
// Back to the command line (and thread name) the process had before the first change.
void restore_process_title();

}  // namespace gantry::module
