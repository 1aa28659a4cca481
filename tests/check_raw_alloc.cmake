# Fails when product, sandbox, bench or test-tool code calls the C library's
# allocators directly: every allocation goes through common/mlc_alloc.h,
# which aborts with one line when memory runs out (ADR 0010). Run by ctest
# as unit.raw_alloc: cmake -DSRC=<source dir> -P tests/check_raw_alloc.cmake
if(NOT SRC)
  message(FATAL_ERROR "check_raw_alloc: pass -DSRC=<source dir>")
endif()
set(dirs common extractor loader cli sandbox bench tests/tools)
set(allowed common/mlc_alloc.c common/mlc_alloc.h)
# A call, not a word in a comment or a longer name (mlc_xmalloc, cJSON_malloc).
set(call "(^|[^A-Za-z0-9_])(malloc|calloc|realloc|strdup|strndup)[ \t]*\\(")

set(found 0)
foreach(dir ${dirs})
  file(GLOB_RECURSE files RELATIVE ${SRC} ${SRC}/${dir}/*.c ${SRC}/${dir}/*.h)
  list(SORT files)
  foreach(f ${files})
    list(FIND allowed ${f} ok)
    if(NOT ok EQUAL -1)
      continue()
    endif()
    file(STRINGS ${SRC}/${f} hits REGEX "${call}")
    foreach(line ${hits})
      string(STRIP "${line}" line)
      message("${f}: raw allocation, use mlc_alloc.h: ${line}")
      math(EXPR found "${found} + 1")
    endforeach()
  endforeach()
endforeach()
if(found GREATER 0)
  message(FATAL_ERROR "${found} raw allocation(s) outside common/mlc_alloc.[ch] (ADR 0010)")
endif()
message("no raw allocation outside common/mlc_alloc.[ch]")
