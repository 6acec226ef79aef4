#pragma once
// A configuration mistake found while parsing a directive. The message is complete and
// operator-facing (it starts with its GANTRYnnnn id, names the directive, the option, the
// value and the accepted form) because the module returns it verbatim from the directive
// handler, so `apachectl -t` prints it.
#include <stdexcept>
#include <string>

namespace gantry {

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace gantry
