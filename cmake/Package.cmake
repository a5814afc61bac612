# SPDX-License-Identifier: ISC
# The Debian package: `cpack -G DEB` in a build tree configured with
# -DCMAKE_INSTALL_PREFIX=/usr makes one .deb, shmbroker_VERSION_ARCH.deb,
# with everything `cmake --install` installs: the daemon, shmctl, shm-vm,
# the libraries with their headers and pkg-config files, the units, the
# sysusers.d snippet, /etc/shmbroker/shmbroker.conf (a conffile) and the
# manual pages. scripts/package.sh configures, builds and packages in one
# go; tests/package/deb.sh (ctest package.deb) installs the result under a
# real systemd in a private root.
#
# Part of what the package needs is fixed at configure time: the unit's
# ExecStart= and --config carry the configured prefix, and GNUInstallDirs
# picks the library directory by it (lib/MULTIARCH for /usr, as Debian
# wants). So packaging refuses any prefix but /usr (cmake/deb/check.cmake),
# for which GNUInstallDirs also puts the configuration in /etc.
set(SHMBROKER_DEB_MAINTAINER
    "The shmbroker authors <maintainers@users.noreply.r-seed-83352103.example>"
    CACHE STRING "Maintainer: field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME shmbroker)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${SHMBROKER_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "shared-memory broker for virtual machines")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
# Read back by cmake/deb/check.cmake and cmake/deb/prebuild.cmake at
# packaging time (only CPACK_* variables reach CPackConfig.cmake).
set(CPACK_SHMBROKER_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_SHMBROKER_MANDIR ${CMAKE_INSTALL_FULL_MANDIR})
set(CPACK_SHMBROKER_DEBDIR ${CMAKE_CURRENT_LIST_DIR}/deb)
set(CPACK_SHMBROKER_BINARY_DEBDIR ${PROJECT_BINARY_DIR}/deb)
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_LIST_DIR}/deb/check.cmake)
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/deb/prebuild.cmake)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY; this is the extended
# description, which CPack indents.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"shmbrokerd owns named, zero-copy shared-memory regions between virtual
machines on a Linux/KVM host, with doorbell notifications, behind the
guest-visible register interface of the QNX hypervisor's shmem device.
VMMs reach it over a local socket and map the memory it hands them into
guest memory; tenants, quotas and modes decide who may use which region.

This package holds the daemon with its systemd units (socket-activated,
sandboxed), the shmctl administration tool, the reference VMM shm-vm,
the client libraries with their headers and pkg-config files, the guest
header qvm/guest_shm.h and the manual pages.")
# Run-time libraries: dpkg-shlibdeps. The service's user comes from
# systemd-sysusers (postinst).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | systemd-sysusers")
# pkg-config --cflags --libs libshmclient needs libprotobuf-c.pc
# (Requires.private); only those who build against the libraries need it.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "pkg-config, libprotobuf-c-dev")
# A shlibs file for packages built against the libraries, and the ldconfig
# trigger (the triggers file below) that a shared library in a public
# directory needs.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

# Maintainer scripts and conffiles, with this tree's paths.
set(DEB_SYSUSERS_NAME shmbroker.conf)
set(DEB_CONFFILE ${CMAKE_INSTALL_FULL_SYSCONFDIR}/shmbroker/shmbroker.conf)
foreach(f postinst prerm postrm conffiles triggers)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/deb/${f}.in
                 ${PROJECT_BINARY_DIR}/deb/${f} @ONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_BINARY_DIR}/deb/postinst ${PROJECT_BINARY_DIR}/deb/prerm
    ${PROJECT_BINARY_DIR}/deb/postrm ${PROJECT_BINARY_DIR}/deb/conffiles
    ${PROJECT_BINARY_DIR}/deb/triggers)

# /usr/share/doc/shmbroker (added by cmake/deb/prebuild.cmake): a changelog
# (its date honours SOURCE_DATE_EPOCH) and the copyright file in Debian's
# machine-readable format, its licence text taken from LICENSE.
string(TIMESTAMP DEB_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${CMAKE_CURRENT_LIST_DIR}/deb/changelog.in
               ${PROJECT_BINARY_DIR}/deb/changelog @ONLY)
file(STRINGS ${PROJECT_SOURCE_DIR}/LICENSE license_lines)
set(deb_copyright "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: shmbroker

Files: *
")
set(deb_license "")
foreach(line IN LISTS license_lines)
  if(line MATCHES "^Copyright \\(c\\) (.*)$")
    string(APPEND deb_copyright "Copyright: ${CMAKE_MATCH_1}\nLicense: ISC\n")
  elseif(line MATCHES "^ISC License$")
  elseif(line STREQUAL "")
    if(NOT deb_license STREQUAL "")
      string(APPEND deb_license " .\n")
    endif()
  else()
    string(APPEND deb_license " ${line}\n")
  endif()
endforeach()
string(APPEND deb_copyright "\nLicense: ISC\n${deb_license}")
file(WRITE ${PROJECT_BINARY_DIR}/deb/copyright "${deb_copyright}")

include(CPack)
