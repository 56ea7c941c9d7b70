# Compiles one compile-fail test file in script mode and checks the diagnostics.
#   cmake -DCXX=<compiler> -DFLAGS=<flags separated by |> -DSOURCE=<file> -DMODE=fail|ok -P compile_fail.cmake
# MODE=ok    the file, with ASGD_COMPILE_FAIL_OK defined, must compile (so a broken include
#            cannot make the failing twin pass for the wrong reason);
# MODE=fail  it must not compile, the first line naming an error must carry "asgd:", and the
#            output must match every "// expect: <regex>" line of the file.
string(REPLACE "|" ";" FLAGS "${FLAGS}")
if(MODE STREQUAL "ok")
  list(APPEND FLAGS -DASGD_COMPILE_FAIL_OK)
endif()
execute_process(COMMAND ${CXX} ${FLAGS} -fsyntax-only ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(log "${out}${err}")

if(MODE STREQUAL "ok")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the OK twin of ${SOURCE} does not compile:\n${log}")
  endif()
  return()
endif()

if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
string(REGEX MATCH "[^\n]*error[^\n]*" first_error "${log}")
if(NOT first_error MATCHES "asgd:")
  message(FATAL_ERROR "the first error for ${SOURCE} does not carry 'asgd:':\n${first_error}\n\nfull output:\n${log}")
endif()
file(STRINGS "${SOURCE}" expects REGEX "^// expect: ")
if(NOT expects)
  message(FATAL_ERROR "${SOURCE} has no '// expect: <regex>' line")
endif()
foreach(line IN LISTS expects)
  string(REGEX REPLACE "^// expect: " "" regex "${line}")
  if(NOT log MATCHES "${regex}")
    message(FATAL_ERROR "the diagnostics for ${SOURCE} do not match '${regex}':\n${log}")
  endif()
endforeach()
message(STATUS "${SOURCE}: ${first_error}")
