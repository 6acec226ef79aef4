# Importable only when WSGIPythonPath names this directory (second entry of a ':' list).
MARKER = "gantry_testlib2 from WSGIPythonPath"
