# SPDX-License-Identifier: ISC
# bench.quick: runs `shmbench --quick` and `shmbench --quick --json` and
# checks that both exit 0 and that every stdout line of the second is a
# JSON object with the keys of the output contract (DESIGN.md
# "Conventions"). No timing is ever checked. Run with -DSHMBENCH=path.
cmake_minimum_required(VERSION 3.19)

execute_process(COMMAND ${SHMBENCH} --quick
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT 140)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "shmbench --quick exited with ${rc}\n${out}\n${err}")
endif()
if(NOT out MATCHES "summary:")
  message(FATAL_ERROR "shmbench --quick printed no summary:\n${out}")
endif()

execute_process(COMMAND ${SHMBENCH} --quick --json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT 140)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "shmbench --quick --json exited with ${rc}\n${err}")
endif()

string(REPLACE ";" "\\;" out "${out}")
string(REPLACE "\n" ";" lines "${out}")
set(count 0)
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  string(JSON type ERROR_VARIABLE jerr TYPE "${line}")
  if(jerr OR NOT type STREQUAL "OBJECT")
    message(FATAL_ERROR "not a JSON object: ${line}\n${jerr}")
  endif()
  foreach(key name unit placement floor floor_p50 ratio target target_is)
    string(JSON v ERROR_VARIABLE jerr GET "${line}" ${key})
    if(jerr)
      message(FATAL_ERROR "no '${key}' in: ${line}")
    endif()
  endforeach()
  string(JSON p50 ERROR_VARIABLE e1 GET "${line}" p50)
  string(JSON p99 ERROR_VARIABLE e2 GET "${line}" p99)
  string(JSON value ERROR_VARIABLE e3 GET "${line}" value)
  if((e1 OR e2) AND e3)
    message(FATAL_ERROR "neither p50/p99 nor value in: ${line}")
  endif()
  string(JSON target_is GET "${line}" target_is)
  if(NOT target_is MATCHES "^(max|min)$")
    message(FATAL_ERROR "target_is is '${target_is}' in: ${line}")
  endif()
  math(EXPR count "${count} + 1")
endforeach()
if(count LESS 8)
  message(FATAL_ERROR "only ${count} figures in --quick --json:\n${out}")
endif()
message(STATUS "${count} figures, all valid JSON lines")
