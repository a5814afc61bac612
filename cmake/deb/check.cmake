# SPDX-License-Identifier: ISC
# CPACK_PROJECT_CONFIG_FILE: run by cpack before each generator. The
# unit's ExecStart= and --config carry the prefix the tree was configured
# with, and GNUInstallDirs chose the library directory by it, so a .deb
# (which installs to /usr) is only right for a tree configured with
# -DCMAKE_INSTALL_PREFIX=/usr, which also puts the configuration in /etc
# (GNUInstallDirs), where the unit looks for it.
if(CPACK_GENERATOR STREQUAL "DEB" AND
   NOT CPACK_SHMBROKER_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "shmbroker: this tree is configured with "
    "CMAKE_INSTALL_PREFIX=${CPACK_SHMBROKER_INSTALL_PREFIX}, but the unit "
    "of a .deb must run /usr/sbin/shmbrokerd with the configuration in "
    "/etc, and its libraries go to /usr/lib/MULTIARCH: configure with -DCMAKE_INSTALL_PREFIX=/usr, or run "
    "scripts/package.sh")
endif()
