"""The launcher's own failures: each has a stable GANTRY id (docs/log-messages.md, 0640-0659)
and a message that says what to change."""


class ExpressError(Exception):
    """A problem the user can fix before Apache starts; `str()` is the whole message."""

    def __init__(self, log_id: str, message: str):
        super().__init__(f"{log_id}: {message}")
        self.log_id = log_id


# One id per cause.
ROOT_WITHOUT_USER = "GANTRY0640"       # run as root without --user
APP_UNREADABLE = "GANTRY0641"          # entry point missing / unreadable by the daemon user
APP_IMPORT_FAILED = "GANTRY0642"       # entry point raises when imported in the group's Python
PYTHON_MISMATCH = "GANTRY0643"         # --python-home / VIRTUAL_ENV is not the embedded Python
SOCKET_DIR_UNUSABLE = "GANTRY0644"     # socket directory unreachable or its path too long
PORT_IN_USE = "GANTRY0646"             # --host/--port cannot be bound
BAD_PATH = "GANTRY0647"                # a directory/file option names a missing path
MODULE_NOT_FOUND = "GANTRY0648"        # mod_gantry.so (or Apache) not found
APACHE_FAILED = "GANTRY0649"           # Apache refused the configuration or exited at start-up
BAD_ACCOUNT = "GANTRY0650"             # --user/--group unknown, root, or given without root
BAD_OPTION = "GANTRY0651"              # an option value the launcher refuses
