# SPDX-License-Identifier: ISC
# CPACK_PRE_BUILD_SCRIPTS: what Debian wants in a package and a plain
# `cmake --install` does not do, applied to cpack's staging tree only:
# binaries and libraries stripped as dh_strip does, manual pages
# compressed with gzip -9n, /usr/share/doc/shmbroker with the copyright
# file and a changelog.gz, the lintian overrides, and dh_fixperms'
# permissions.
if(NOT CPACK_GENERATOR STREQUAL "DEB")
  return()
endif()
# The staging root: the one directory under the temporary one.
set(root ${CPACK_TEMPORARY_DIRECTORY})
if(NOT IS_DIRECTORY "${root}${CPACK_SHMBROKER_MANDIR}")
  message(FATAL_ERROR "shmbroker prebuild: no ${CPACK_SHMBROKER_MANDIR} "
    "in the staging tree ${root}")
endif()
# Strip as dh_strip does: no debug symbols, no .comment or .note sections;
# shared libraries keep only their dynamic symbols, static ones their
# symbol tables (and become deterministic archives).
find_program(STRIP_TOOL strip REQUIRED)
file(GLOB_RECURSE files LIST_DIRECTORIES false "${root}/*")
foreach(f ${files})
  if(IS_SYMLINK ${f})
    continue()
  endif()
  file(READ ${f} magic LIMIT 8 HEX)
  set(how "")
  if(magic MATCHES "^7f454c46")
    if(f MATCHES "\\.so(\\.[0-9]+)*$")
      set(how --strip-unneeded)
    else()
      set(how --strip-all)
    endif()
  elseif(magic STREQUAL "213c617263683e0a")  # "!<arch>\n"
    set(how --strip-debug --enable-deterministic-archives)
  endif()
  if(how)
    execute_process(COMMAND ${STRIP_TOOL} ${how} --remove-section=.comment
                            --remove-section=.note ${f} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "shmbroker prebuild: strip ${f} failed")
    endif()
  endif()
endforeach()

file(GLOB_RECURSE pages "${root}${CPACK_SHMBROKER_MANDIR}/man*/*.[1-8]")
foreach(page ${pages})
  execute_process(COMMAND gzip -9nf ${page} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "shmbroker prebuild: gzip ${page} failed")
  endif()
endforeach()

set(doc ${root}${CPACK_SHMBROKER_INSTALL_PREFIX}/share/doc/${CPACK_PACKAGE_NAME})
file(MAKE_DIRECTORY ${doc})
file(COPY ${CPACK_SHMBROKER_BINARY_DEBDIR}/copyright DESTINATION ${doc}
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(COPY ${CPACK_SHMBROKER_BINARY_DEBDIR}/changelog DESTINATION ${doc}
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
execute_process(COMMAND gzip -9nf ${doc}/changelog RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "shmbroker prebuild: gzip changelog failed")
endif()

set(overrides ${root}${CPACK_SHMBROKER_INSTALL_PREFIX}/share/lintian/overrides)
file(MAKE_DIRECTORY ${overrides})
configure_file(${CPACK_SHMBROKER_DEBDIR}/lintian-overrides
               ${overrides}/${CPACK_PACKAGE_NAME} COPYONLY)

# Permissions as dh_fixperms leaves them, whatever the umask of the
# checkout and the build: directories and executables 0755, files 0644.
file(GLOB_RECURSE entries LIST_DIRECTORIES true "${root}/*")
foreach(e ${entries})
  if(IS_SYMLINK ${e})
    continue()
  elseif(IS_DIRECTORY ${e})
    set(mode OWNER_EXECUTE GROUP_EXECUTE WORLD_EXECUTE)
  else()
    execute_process(COMMAND test -x ${e} RESULT_VARIABLE notexec)
    set(mode "")
    if(notexec EQUAL 0)
      set(mode OWNER_EXECUTE GROUP_EXECUTE WORLD_EXECUTE)
    endif()
  endif()
  file(CHMOD ${e} PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       ${mode})
endforeach()
