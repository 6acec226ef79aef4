# Run by `cmake --install` (express/CMakeLists.txt sets the GANTRY_EXPRESS_* variables just
# before): writes bin/gantry-express with its installed package and modules directories.
# CMAKE_INSTALL_PREFIX is the prefix of this install (--prefix included), without DESTDIR.
set(GANTRY_EXPRESS_PACKAGE_DIR "${CMAKE_INSTALL_PREFIX}/${GANTRY_EXPRESS_DATADIR}")
if(IS_ABSOLUTE "${GANTRY_EXPRESS_MODULES}")
  set(GANTRY_EXPRESS_MODULES_DIR "${GANTRY_EXPRESS_MODULES}")
else()
  set(GANTRY_EXPRESS_MODULES_DIR "${CMAKE_INSTALL_PREFIX}/${GANTRY_EXPRESS_MODULES}")
endif()
configure_file("${GANTRY_EXPRESS_SOURCE}" "${GANTRY_EXPRESS_OUTPUT}" @ONLY)
