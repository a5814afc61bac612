# CPACK_PROJECT_CONFIG_FILE: run by cpack before each generator. The units'
# ExecStart= and --config and the .pc files carry the prefix the tree was
# configured with, so a .deb (which installs to /usr) is only right for a
# tree configured with -DCMAKE_INSTALL_PREFIX=/usr, which also puts the
# configuration in /etc (GNUInstallDirs), where the unit looks for it.
if(CPACK_GENERATOR STREQUAL "DEB" AND
   NOT CPACK_SHMBROKER_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "shmbroker: this tree is configured with "
    "CMAKE_INSTALL_PREFIX=${CPACK_SHMBROKER_INSTALL_PREFIX}, but the units "
    "and .pc files of a .deb must point into /usr and the configuration "
    "into /etc: configure with -DCMAKE_INSTALL_PREFIX=/usr, or run "
    "scripts/package.sh")
endif()
