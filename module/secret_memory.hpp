#pragma once
// Where Apache's parent keeps daemon groups' secrets, so that a process it forks which must
// know none of them can forget them all.
//
// Apache's parent holds every group's secret: its children need them all to talk to the
// groups. The daemon spawner must hold none (docs/spawner.md, docs/security.md): the
// daemons it clones inherit its memory. The first spawner is forked before any secret
// exists; one started again later (the first one died) is forked from a parent that holds
// them, and calls wipe_held_secrets() first thing. Every place in the parent that holds a
// secret while a spawner may be forked registers the memory for as long as it holds it:
//
//   HeldSecret hold(launch.secret);   // registered until the end of the scope
//   ... spawn_daemon(...) may fork a new spawner here ...
//
// Only the parent's one thread registers and forks, so the registry needs no lock, and the
// forked child walks it without allocating.
#include <string.h>

#include <cstddef>

#include "gantry/protocol.hpp"

namespace gantry::module {

void hold_secret(void* data, std::size_t size);
void release_secret(const void* data) noexcept;  // a pointer never held is ignored

// In a process just forked from Apache's parent: zeroes every registered secret.
void wipe_held_secrets() noexcept;

// Zeroes `secret` and drops its registration.
inline void forget_secret(protocol::Secret& secret) noexcept {
  release_secret(secret.data());
  explicit_bzero(secret.data(), secret.size());
}

class HeldSecret {
 public:
  HeldSecret(void* data, std::size_t size) : data_(data) { hold_secret(data, size); }
  explicit HeldSecret(protocol::Secret& secret) : HeldSecret(secret.data(), secret.size()) {}
  ~HeldSecret() { release_secret(data_); }
  HeldSecret(const HeldSecret&) = delete;
  HeldSecret& operator=(const HeldSecret&) = delete;

 private:
  const void* data_;
};

}  // namespace gantry::module
