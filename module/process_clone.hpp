#pragma once
// Creating a process whose parent is Apache's parent, from a process that is itself a child
// of it (the spawner, and a group's template): clone3(CLONE_PARENT). See docs/spawner.md
// ("The raw clone, and what it skips") for what a raw clone leaves out compared to fork().
#include <sys/types.h>

namespace gantry::module {

// Finds, once, the word of glibc's thread descriptor that caches the thread id (the
// spawner calls it at start-up; processes cloned from it inherit the answer).
void find_tid_field() noexcept;

// clone(CLONE_PARENT [| CLONE_CHILD_SETTID]): returns as fork() does. The new process's
// parent is the caller's parent, and its exit signal the caller's own (SIGCHLD).
pid_t clone_parented() noexcept;

}  // namespace gantry::module
