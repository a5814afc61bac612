# SPDX-License-Identifier: ISC
# The protobuf-c runtime the fuzz build links. Every request and reply the
# harnesses feed goes through protobuf-c's unpacker first, so it is built
# here from Debian's source of the installed version (scripts/fuzz.sh
# fetches it with apt-get source into SHMBROKER_PROTOBUF_C_SOURCE) with the
# same coverage instrumentation and sanitizers as the project: libFuzzer
# then sees inside the decoder, and ASan/UBSan check it. Without a source
# tree the installed shared library is used, uninstrumented.
if(SHMBROKER_PROTOBUF_C_SOURCE)
  set(pc_src ${SHMBROKER_PROTOBUF_C_SOURCE}/protobuf-c/protobuf-c.c)
  if(NOT EXISTS ${pc_src})
    message(FATAL_ERROR "SHMBROKER_PROTOBUF_C_SOURCE: no ${pc_src}")
  endif()
  add_library(protobufc_fuzz STATIC ${pc_src})
  target_include_directories(protobufc_fuzz PUBLIC ${SHMBROKER_PROTOBUF_C_SOURCE})
  # Not the project's code: its own warnings are not ours to fail on, and
  # two of its UBSan reports are left out, as the file says why; its
  # packer and sizer are left out of coverage (not of the sanitizers), as
  # protobuf-c.coverage-ignorelist says why. clang names the first list
  # in its dependency file but not the second: an edit of it rebuilds.
  set(pc_cov_ignore ${CMAKE_CURRENT_LIST_DIR}/protobuf-c.coverage-ignorelist)
  target_compile_options(protobufc_fuzz PRIVATE -w
    -fsanitize-ignorelist=${CMAKE_CURRENT_LIST_DIR}/protobuf-c.ignorelist
    -fsanitize-coverage-ignorelist=${pc_cov_ignore})
  set_property(SOURCE ${pc_src} APPEND PROPERTY OBJECT_DEPENDS ${pc_cov_ignore})
  set(SHMBROKER_PROTOBUFC_LIB protobufc_fuzz)
  message(STATUS "fuzz: protobuf-c built from ${SHMBROKER_PROTOBUF_C_SOURCE}")
else()
  message(STATUS "fuzz: the installed protobuf-c, uninstrumented (see "
                 "tests/fuzz/README.md)")
endif()
