# Source rules checked by a grep, in the unit label because they are as
# quick: cmake -DSRC=<source dir> -DRULE=<rule> -P tests/check_source.cmake
#
#   raw_alloc   product, sandbox, bench or test-tool code calls the C
#               library's allocators directly: every allocation goes through
#               common/mlc_alloc.h, which aborts with one line when memory
#               runs out (ADR 0010);
#   array_size  C code divides a sizeof by a sizeof to count an array's
#               elements: ARRAY_SIZE of common/mlc_alloc.h says it once, and
#               the next reader does not have to check that both operands
#               name the same array.
if(NOT SRC OR NOT RULE)
  message(FATAL_ERROR "check_source: pass -DSRC=<source dir> -DRULE=raw_alloc|array_size")
endif()
if(RULE STREQUAL "raw_alloc")
  set(dirs common extractor loader cli sandbox bench tests/tools)
  set(allowed common/mlc_alloc.c common/mlc_alloc.h)
  # A call, not a word in a comment or a longer name (mlc_xmalloc, cJSON_malloc).
  set(pattern "(^|[^A-Za-z0-9_])(malloc|calloc|realloc|strdup|strndup)[ \t]*\\(")
  set(each "raw allocation, use mlc_alloc.h")
  set(fail "raw allocation(s) outside common/mlc_alloc.[ch] (ADR 0010)")
  set(pass "no raw allocation outside common/mlc_alloc.[ch]")
elseif(RULE STREQUAL "array_size")
  set(dirs common extractor loader cli sandbox bench tests)
  set(allowed common/mlc_alloc.h)
  # sizeof(x) / sizeof(x[0]) on one line, or a line that ends in "sizeof(x) /"
  # with the divisor on the next one (file(STRINGS) reads line by line).
  set(pattern "sizeof[^;]*/[ \t]*sizeof|sizeof[ \t]*\\([^;]*\\)[ \t]*/[ \t]*$")
  set(each "open-coded element count, use ARRAY_SIZE (mlc_alloc.h)")
  set(fail "open-coded sizeof(x) / sizeof(x[0]); use ARRAY_SIZE")
  set(pass "no open-coded element count outside common/mlc_alloc.h")
else()
  message(FATAL_ERROR "check_source: unknown RULE ${RULE} (raw_alloc, array_size)")
endif()

set(found 0)
foreach(dir ${dirs})
  file(GLOB_RECURSE files RELATIVE ${SRC} ${SRC}/${dir}/*.c ${SRC}/${dir}/*.h)
  list(SORT files)
  foreach(f ${files})
    list(FIND allowed ${f} ok)
    if(NOT ok EQUAL -1)
      continue()
    endif()
    file(STRINGS ${SRC}/${f} hits REGEX "${pattern}")
    foreach(line ${hits})
      string(STRIP "${line}" line)
      message("${f}: ${each}: ${line}")
      math(EXPR found "${found} + 1")
    endforeach()
  endforeach()
endforeach()
if(found GREATER 0)
  message(FATAL_ERROR "${found} ${fail}")
endif()
message("${pass}")
