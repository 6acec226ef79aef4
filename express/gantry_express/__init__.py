"""gantry-express: serve a WSGI application with Apache and Gantry in one command.

`gantry-express start-server app.wsgi` writes a complete Apache configuration (Gantry in daemon
mode) into a server root directory and runs Debian's Apache in the foreground; `setup-server`
writes the same directory with an `apachectl` script to run it later. Standard library only:
it runs under Debian's /usr/bin/python3. See docs/gantry-express.md.
"""
