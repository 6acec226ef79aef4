// Word splitting for directive arguments (see directive_words.hpp for the rules).
#include "gantry/directive_words.hpp"

#include "gantry/config_error.hpp"

namespace gantry {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_quote(char c) { return c == '"' || c == '\''; }

class WordReader {
 public:
  WordReader(std::string_view directive, std::string_view text) : directive_(directive), text_(text) {}

  void skip_space() {
    while (at_ < text_.size() && is_space(text_[at_])) ++at_;
  }
  bool done() const { return at_ >= text_.size(); }

  // One word starting at the current position (not at white space).
  std::string word(bool option_word) {
    const std::size_t start = at_;
    if (is_quote(text_[at_])) return quoted(start);
    std::string out;
    while (at_ < text_.size() && !is_space(text_[at_])) {
      const char c = text_[at_];
      if (c == '\\' && at_ + 1 < text_.size() && text_[at_ + 1] == '\\') {
        out += '\\';
        at_ += 2;
        continue;
      }
      out += c;
      ++at_;
      // mod_wsgi reads an option's value as a word of its own: it may be quoted.
      if (option_word && c == '=' && out.find('=') == out.size() - 1 && at_ < text_.size() &&
          is_quote(text_[at_])) {
        return out + quoted(start);
      }
    }
    return out;
  }

 private:
  // The quoted text at the current position, unescaped; the word began at `word_start`.
  std::string quoted(std::size_t word_start) {
    const char quote = text_[at_++];
    std::string out;
    while (true) {
      if (at_ >= text_.size()) fail_unterminated(word_start, quote);
      const char c = text_[at_];
      if (c == quote) break;
      if (c == '\\' && at_ + 1 < text_.size() && (text_[at_ + 1] == quote || text_[at_ + 1] == '\\')) {
        out += text_[at_ + 1];
        at_ += 2;
        continue;
      }
      out += c;
      ++at_;
    }
    ++at_;  // the closing quote
    if (at_ < text_.size() && !is_space(text_[at_])) fail_glued(word_start, quote);
    return out;
  }

  [[noreturn]] void fail_unterminated(std::size_t word_start, char quote) const {
    throw ConfigError("GANTRY0017: " + std::string(directive_) + ": unterminated " + quote +
                      " quote in " + std::string(text_.substr(word_start)) +
                      "; close it with a matching " + quote + " (write \\" + quote +
                      " for a quote that is part of the value)");
  }

  [[noreturn]] void fail_glued(std::size_t word_start, char quote) const {
    std::size_t end = at_;
    while (end < text_.size() && !is_space(text_[end])) ++end;
    throw ConfigError("GANTRY0018: " + std::string(directive_) + ": text follows the closing " +
                      quote + " quote in " + std::string(text_.substr(word_start, end - word_start)) +
                      "; put the whole value inside the quotes, or a space after them");
  }

  std::string_view directive_;
  std::string_view text_;
  std::size_t at_ = 0;
};

}  // namespace

std::vector<std::string> split_directive_words(std::string_view directive, std::string_view text,
                                               std::size_t positional) {
  std::vector<std::string> words;
  WordReader reader(directive, text);
  for (reader.skip_space(); !reader.done(); reader.skip_space())
    words.push_back(reader.word(words.size() >= positional));
  return words;
}

bool split_option_word(std::string_view word, std::string_view* name, std::string_view* value) {
  const std::size_t equals = word.find('=');
  if (equals == std::string_view::npos || equals == 0) return false;
  *name = word.substr(0, equals);
  *value = word.substr(equals + 1);
  return true;
}

const char* option_value(const char* word, std::string_view name) {
  std::string_view option, value;
  if (!split_option_word(word, &option, &value) || option != name) return nullptr;
  return word + name.size() + 1;
}

}  // namespace gantry
