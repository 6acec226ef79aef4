#pragma once
// GANTRY log ids of the Python side (0100-0199). Each cause has its own id; the table
// with level, meaning and fix is in docs/log-messages.md ("Python side (0100-0199)").
namespace gantry::wsgi::ids {

inline constexpr const char* kPythonInitFailed = "GANTRY0100";
inline constexpr const char* kPythonInitialized = "GANTRY0101";
inline constexpr const char* kSubInterpreterFailed = "GANTRY0102";
inline constexpr const char* kSubInterpreterCreated = "GANTRY0103";
// GANTRY0104 is retired: a script the Python side cannot stat is GANTRY0124 (a plain
// missing script is the server side's GANTRY0041).
inline constexpr const char* kScriptLoading = "GANTRY0105";
inline constexpr const char* kScriptReloading = "GANTRY0106";
inline constexpr const char* kScriptLoadFailed = "GANTRY0107";
inline constexpr const char* kCallableMissing = "GANTRY0108";
inline constexpr const char* kRequestException = "GANTRY0109";
inline constexpr const char* kAppStdout = "GANTRY0110";
inline constexpr const char* kAppStderr = "GANTRY0111";
inline constexpr const char* kWsgiErrors = "GANTRY0112";
inline constexpr const char* kSignalIgnored = "GANTRY0113";
inline constexpr const char* kClientGone = "GANTRY0114";
inline constexpr const char* kContentLengthExceeded = "GANTRY0115";
inline constexpr const char* kContentLengthShort = "GANTRY0116";
inline constexpr const char* kNoStartResponse = "GANTRY0117";
inline constexpr const char* kChannelFailed = "GANTRY0118";
inline constexpr const char* kCloseException = "GANTRY0119";
inline constexpr const char* kNotInitialized = "GANTRY0120";
inline constexpr const char* kInternalError = "GANTRY0121";
inline constexpr const char* kAtexitException = "GANTRY0122";
inline constexpr const char* kInterpreterSetupFailed = "GANTRY0123";
inline constexpr const char* kScriptReadFailed = "GANTRY0124";
inline constexpr const char* kForkWithSubInterpreters = "GANTRY0125";
inline constexpr const char* kRequestTimedOut = "GANTRY0130";
inline constexpr const char* kReloadCheckFailed = "GANTRY0131";
// mod_wsgi Python API (0140-0149).
inline constexpr const char* kEventCallbackException = "GANTRY0140";
inline constexpr const char* kShutdownCallbackException = "GANTRY0141";
// 0150-0154: process-wide settings from directives (python_config.cpp).
inline constexpr const char* kSwitchIntervalSet = "GANTRY0150";
inline constexpr const char* kSwitchIntervalFailed = "GANTRY0151";

}  // namespace gantry::wsgi::ids
