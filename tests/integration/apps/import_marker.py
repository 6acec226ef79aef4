# Loaded by WSGIImportScript at process start, in the main interpreter (%{GLOBAL}); the app
# served from %{GLOBAL} sees the marker without having imported this file itself.
import os
import sys

sys.gantry_import_marker = "preloaded in pid %d" % os.getpid()
