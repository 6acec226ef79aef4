# Importable only when WSGIPythonPath names this directory.
MARKER = "gantry_testlib from WSGIPythonPath"
