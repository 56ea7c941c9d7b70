# Runs a command and checks its exit status and output, for command-line tests.
#   cmake -DCOMMAND=<cmd|arg|arg...> -DSTATUS=<expected exit status> [-DOUTPUT=<regex>]
#         [-DFILE=<path that must exist afterwards>] -P expect_run.cmake
# Arguments are separated by | because CTest passes one string.
string(REPLACE "|" ";" COMMAND "${COMMAND}")
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(log "${out}${err}")
if(NOT "${rc}" STREQUAL "${STATUS}")
  message(FATAL_ERROR "exit status ${rc}, expected ${STATUS}:\n${log}")
endif()
if(DEFINED OUTPUT AND NOT log MATCHES "${OUTPUT}")
  message(FATAL_ERROR "the output does not match '${OUTPUT}':\n${log}")
endif()
if(DEFINED FILE AND NOT EXISTS "${FILE}")
  message(FATAL_ERROR "${FILE} was not written:\n${log}")
endif()
message(STATUS "${log}")
